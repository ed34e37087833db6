"""The findings a run ends with: a warning said during training is never dropped from the summary."""

import json
from types import SimpleNamespace

from segtrain.diagnosis.findings import Finding
from segtrain.engine import fit
from segtrain.runtime.rundir import RunDir


def test_a_warning_said_during_training_stays_as_info_when_the_end_no_longer_shows_it(tmp_path, monkeypatch):
    run = RunDir(tmp_path)
    swung = Finding("unstable_validation", "warning", "validation Dice swung 0.89 -> 0.20 -> 0.92", "lower the rate",
                    epoch=4)
    still = Finding("exploding_gradients", "warning", "the gradient norm spiked", "clip")
    monkeypatch.setattr(fit, "diagnose_run", lambda histories, facts: [still])
    diagnosis = SimpleNamespace(said={"unstable_validation": "warning", "exploding_gradients": "warning"},
                                shown={"unstable_validation": swung, "exploding_gradients": still})
    findings = fit._findings(run, SimpleNamespace(diagnosis_facts=lambda: {}), diagnosis)
    assert [f.code for f in findings] == ["exploding_gradients", "unstable_validation"]
    kept = findings[1]
    assert kept.severity == "info" and kept.message.startswith("during training (epoch 4): validation Dice swung")
    written = json.loads(run.findings.read_text())
    assert [f["code"] for f in written] == ["exploding_gradients", "unstable_validation"]
