"""``segtrain doctor RUN`` names the run's own batch size, workers and width in its hints.

The facts come from the run record that ``doctor`` rebuilds from ``config.yaml`` and ``plan.json``
(:meth:`segtrain.runtime.record.RunRecord.from_run`), as training hands them to its diagnosis.
The histories are written so that three detectors fire: ``data_loading`` (waiting for batches
most of the time), ``memory_high`` (peak memory near the limit) and ``underfitting`` (flat,
high losses and a poor Dice).
"""

import json

import segtrain
from segtrain.config import save_config
from segtrain.config.schema import SegtrainConfig
from segtrain.runtime.rundir import RunDir

EPOCHS = 5


def _run_folder(path, with_config: bool = True) -> RunDir:
    run = RunDir(path)
    run.path.mkdir()
    header = "epoch,step,train_loss,val_loss,val_dice,lr,data_share,peak_memory_mb,memory_limit_mb"
    rows = [f"{e},{10 * e},0.69,0.70,0.10,0.001,0.8,950.0,1000.0" for e in range(1, EPOCHS + 1)]
    run.metrics.write_text("\n".join([header, *rows]) + "\n")
    if with_config:
        cfg = SegtrainConfig()
        cfg.model.width = 24
        cfg.train.batch_size, cfg.train.num_workers, cfg.train.lr, cfg.train.precision = 6, 3, 1e-3, "32"
        save_config(cfg, run.config)
        run.plan.write_text(json.dumps({"batch_size": 6, "num_workers": 3, "lr": 1e-3, "precision": "32",
                                        "patch_size": 64, "epochs": EPOCHS}))
    return run


def _fixes(result) -> dict[str, str]:
    return {f["code"]: f["fix"] for f in result["findings"]}


def test_doctor_hints_name_the_runs_batch_workers_and_width(tmp_path):
    run = _run_folder(tmp_path / "run")
    result = segtrain.doctor(run.path)
    fixes = _fixes(result)
    assert {"data_loading", "memory_high", "underfitting"} <= set(fixes), fixes
    assert "train.num_workers: 6 in a --config YAML" in fixes["data_loading"]  # twice the run's 3 workers
    assert "--batch-size (now 6; try 3)" in fixes["memory_high"]
    assert "model.width: 48 in a --config YAML" in fixes["underfitting"]  # twice the run's width 24
    for hint in ("train.num_workers: 6", "(now 6; try 3)", "model.width: 48"):
        assert hint in result["text"], hint
    written = {f["code"]: f["fix"] for f in json.loads(run.findings.read_text())}
    assert written == fixes


def test_doctor_without_config_gives_the_general_hints(tmp_path):
    fixes = _fixes(segtrain.doctor(_run_folder(tmp_path / "run", with_config=False).path))
    assert "N up to the number of CPU cores" in fixes["data_loading"]
    assert "now" not in fixes["memory_high"]
    assert "model.width: 32" in fixes["underfitting"]
