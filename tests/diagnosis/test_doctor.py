import json
import subprocess
import sys

from segtrain.diagnosis import Finding, RunHistory, diagnose, diagnose_run, format_findings


def test_healthy_run_folder_has_no_problems(tmp_path, healthy, run_writer):
    run = run_writer(tmp_path / "run", healthy)
    findings = diagnose_run(run)
    assert findings == []
    assert format_findings(findings, RunHistory.load(run)) == "no problems found in 30 epochs and 300 steps"


def test_empty_run_folder(tmp_path):
    assert diagnose_run(tmp_path) == []
    assert format_findings([], RunHistory.load(tmp_path)) == "no problems found in 0 epochs and 0 steps"
    assert format_findings([]) == "no problems found"


def test_run_diverged_at_lr_1e4(tmp_path, run_writer):
    history = RunHistory(
        epochs=[{"epoch": 1, "step": 3, "train_loss": float("nan"), "val_loss": float("nan"), "val_dice": 0.0}],
        steps=[{"step": s, "epoch": 1, "lr": 1e4, "loss": x} for s, x in ((1, 0.69), (2, 1.6e8), (3, 4e7))],
        events=[{"kind": "divergence", "step": 2, "epoch": 1, "loss": 1.6e8, "reference_loss": 0.69, "lr": 1e4,
                 "action": "rolled back", "recoveries": 1},
                {"kind": "stop", "step": 3, "epoch": 1, "reason": "divergence", "detail": "too many recoveries"}],
    )
    run = run_writer(tmp_path / "run", history)
    findings = diagnose_run(run)
    assert findings[0].code == "lr_too_high" and findings[0].severity == "error"
    assert "learning rate 1e4" in findings[0].message
    text = format_findings(findings)
    assert text.startswith("1 error:\nerror [lr_too_high] the learning rate 1e4 is too high")
    assert "\n  fix: lower the learning rate" in text


def test_meta_reaches_the_detectors(tmp_path, run_writer):
    n = 4
    epochs = [{"epoch": e, "step": 10 * e, "train_loss": 0.5, "val_loss": 0.5, "val_dice_1": 0.8, "val_dice_2": 0.0}
              for e in range(1, n + 1)]
    run = run_writer(tmp_path / "run", RunHistory(epochs=epochs))
    findings = diagnose_run(run, meta={"class_names": ["bg", "cell", "nucleus"]})
    assert any("class 2 (nucleus)" in f.message for f in findings)


def test_format_lists_problems_then_info():
    findings = [
        Finding("early_stopping", "info", "stopped early", ""),
        Finding("overfitting", "warning", "val loss rose", "stop earlier", epoch=12),
        Finding("lr_too_high", "error", "the learning rate 1e4 is too high", "lower it", step=2),
    ]
    assert format_findings(findings).splitlines() == [
        "1 error, 1 warning:",
        "error [lr_too_high] the learning rate 1e4 is too high", "  fix: lower it",
        "warning [overfitting] val loss rose", "  fix: stop earlier",
        "info [early_stopping] stopped early",
    ]


def test_only_info_still_says_no_problems(healthy):
    findings = [Finding("early_stopping", "info", "stopped early at epoch 30", "")]
    assert format_findings(findings, healthy).splitlines() == [
        "no problems found in 30 epochs and 300 steps", "info [early_stopping] stopped early at epoch 30"]


def test_diagnose_equals_the_detectors(healthy):
    healthy.events.append({"kind": "workers", "step": 0, "epoch": 1, "reason": "no shm"})
    assert [f.code for f in diagnose(healthy)] == ["workers_fallback"]


def test_findings_survive_json(tmp_path, healthy):
    healthy.events.append({"kind": "workers", "step": 0, "epoch": 1, "reason": "no shm"})
    findings = diagnose(healthy)
    assert [Finding.from_dict(d) for d in json.loads(json.dumps([f.to_dict() for f in findings]))] == findings


def test_importing_the_package_stays_light():
    code = ("import sys, segtrain.diagnosis.doctor, segtrain.diagnosis\n"
            "heavy = {'torch', 'numpy', 'lightning', 'yaml', 'pydantic'} & set(sys.modules)\n"
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
