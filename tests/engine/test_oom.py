"""Out of memory during training: halve the micro-batch, double the accumulation, same step.

A real out-of-memory error needs a GPU; here the network raises ``torch.OutOfMemoryError`` (the
error CUDA raises) for any input above 2 patches, before computing anything. The recovered run
must match, weight for weight, a run planned from the start with micro-batch 2 and the same
effective batch: the effective batch and the schedule do not change, and no update is lost.
"""

from __future__ import annotations

import json

import pytest
import torch

from helpers.datasets import make_dataset

TINY = "model: {width: 4, depth: 2}\ntrain: {early_stop_patience: null}\n"


@pytest.fixture(autouse=True)
def _planning_without_memory_probe(no_memory_probe):
    """Every test here trains; none is about planning."""


def _train(tmp_path, name, **options):
    import segtrain

    data = tmp_path / "data"
    if not data.exists():
        make_dataset(data, n=12, size=(32, 32), channels=1, classes=2, seed=4)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    options = {"patch_size": 32, "precision": "32", "lr_find": False, "epochs": 2, "lr": 3e-3, **options}
    return segtrain.train(data, tmp_path / name, config=config, progress=False, report=False, **options)


def _weights(run):
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def test_out_of_memory_halves_the_micro_batch_and_keeps_the_schedule(tmp_path, monkeypatch):
    planned = _train(tmp_path, "planned", batch_size=2, accumulate=4)
    from segtrain.engine import module

    original = module.SegmentationModule.forward

    def small_memory(self, x):
        if self.training and x.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, x)

    monkeypatch.setattr(module.SegmentationModule, "forward", small_memory)
    recovered = _train(tmp_path, "recovered", batch_size=8, accumulate=1)
    events = [json.loads(line) for line in (recovered.run / "events.jsonl").read_text().splitlines()]
    oom = [e for e in events if e["kind"] == "oom"]
    assert [(e["micro_batch_before"], e["micro_batch_after"]) for e in oom] == [(8, 4), (4, 2)]
    assert [(e["accumulate_before"], e["accumulate_after"]) for e in oom] == [(1, 2), (2, 4)]
    assert all(e["step"] == 1 for e in oom)  # the same step ran again
    assert recovered.steps == planned.steps
    expected, got = _weights(planned.run), _weights(recovered.run)
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert torch.load(recovered.run / "checkpoints" / "last.ckpt", weights_only=True)["segtrain_state"]["micro_batches"] == 4
    findings = json.loads((recovered.run / "findings.json").read_text())
    assert any(f["code"] == "out_of_memory" for f in findings)


def test_out_of_memory_at_micro_batch_one_is_a_clear_error(tmp_path, monkeypatch):
    from segtrain.engine import module
    from segtrain.errors import UserError

    def no_memory(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(module.SegmentationModule, "forward", no_memory)
    with pytest.raises(UserError, match="out of memory even at micro-batch 1"):
        _train(tmp_path, "none", batch_size=2, accumulate=1)
