"""The guard against non-finite steps, end to end on a tiny run: roll back, skip, lower the
rate, go on; stop cleanly when it keeps happening; never write non-finite weights."""

from __future__ import annotations

import json
import math

import pytest
import torch

from helpers.datasets import make_dataset

TINY = "model: {width: 4, depth: 2}\ntrain: {early_stop_patience: null}\n"


@pytest.fixture(autouse=True)
def _planning_without_memory_probe(no_memory_probe):
    """Every test here trains; none is about planning."""


def _train(tmp_path, **options):
    import segtrain

    data = make_dataset(tmp_path / "data", n=12, size=(32, 32), channels=1, classes=2, seed=2)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    options = {"batch_size": 2, "patch_size": 32, "precision": "32", "lr_find": False, "epochs": 3, "lr": 3e-3,
               **options}
    return segtrain.train(data, tmp_path / "run", config=config, progress=False, report=False, **options)


def _events(run):
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def test_one_nan_batch_is_rolled_back_and_training_goes_on(tmp_path, monkeypatch):
    from segtrain.engine import module

    original, calls = module.SegmentationModule._forward_backward, []

    def poisoned(self, images, masks):
        calls.append(1)
        if len(calls) == 4:  # the 4th step's batch holds a NaN
            images = images.clone()
            images[0, 0, 0, 0] = math.nan
        return original(self, images, masks)

    monkeypatch.setattr(module.SegmentationModule, "_forward_backward", poisoned)
    result = _train(tmp_path)
    assert result.stopped_by == "planned end"
    events = [e for e in _events(result.run) if e["kind"] == "nonfinite"]
    assert len(events) == 1 and events[0]["step"] == 4 and events[0]["what"] == "loss"
    assert "rolled back" in events[0]["action"] and "x0.5" in events[0]["action"]
    lrs = {int(line.split(",")[0]): float(line.split(",")[2])
           for line in (result.run / "steps.csv").read_text().splitlines()[1:]}
    plan = json.loads((result.run / "plan.json").read_text())
    assert lrs[1] == pytest.approx(3e-3)  # constant peak before, halved after (cosine shape aside)
    from segtrain.optim.schedules import Schedule

    schedule = Schedule("cosine", plan["items"]["total_steps"]["value"] if "items" in plan else plan["total_steps"])
    assert lrs[6] == pytest.approx(3e-3 * 0.5 * schedule(5), rel=1e-4)
    last = torch.load(result.run / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())


def test_a_file_with_nan_pixels_is_named_and_training_stops_cleanly(tmp_path, monkeypatch):
    from segtrain.data.loaders import datamodule

    original = datamodule.TrainPatches.__getitem__

    def nan_image(self, item):
        image, mask, number = original(self, item)
        if self.samples[number].stem == self.samples[0].stem:
            image = image.clone()
            image[:] = math.nan
        return image, mask, number

    monkeypatch.setattr(datamodule.TrainPatches, "__getitem__", nan_image)
    result = _train(tmp_path, epochs=6)
    assert result.stopped_by == "repeated non-finite or exploding steps"
    events = _events(result.run)
    nonfinite = [e for e in events if e["kind"] == "nonfinite"]
    assert len(nonfinite) == 4  # 3 roll-backs, then the stop
    named = {f for e in nonfinite for f in e["evidence"]["nonfinite_inputs"]}
    assert len(named) == 1 and named.pop().endswith(".png")
    assert events[-1]["kind"] == "stop"
    findings = json.loads((result.run / "findings.json").read_text())
    assert any(f["code"] == "nonfinite_inputs" for f in findings), findings
    best = torch.load(result.run / "checkpoints" / "best.ckpt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in best["state_dict"].values() if v.is_floating_point())


def test_checkpoint_with_nan_weights_is_not_written(tmp_path):
    from segtrain.engine.callbacks import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "segtrain": {}}, path)
    before = path.read_bytes()
    io.save_checkpoint({"state_dict": {"w": torch.tensor([1.0, math.nan])}, "segtrain": {}}, path)
    assert path.read_bytes() == before


def test_a_gradient_spike_switches_clipping_on(tmp_path, monkeypatch):
    from segtrain.engine import module

    original, calls = module.SegmentationModule._forward_backward, []

    def spike(self, images, masks):
        calls.append(1)
        if len(calls) == 6:  # one step's loss (and so its gradients) a million times too large
            handle = self.loss_fn.register_forward_hook(lambda mod, args, out: out * 1e6)
            try:
                return original(self, images, masks)
            finally:
                handle.remove()
        return original(self, images, masks)

    monkeypatch.setattr(module.SegmentationModule, "_forward_backward", spike)
    result = _train(tmp_path)
    assert result.stopped_by == "planned end"
    events = _events(result.run)
    clip = [e for e in events if e["kind"] == "clip"]
    assert len(clip) == 1 and clip[0]["step"] == 6
    norms = [float(line.split(",")[4]) for line in (result.run / "steps.csv").read_text().splitlines()[1:6]]
    assert clip[0]["max_norm"] == pytest.approx(2 * sorted(norms)[2], rel=1e-3)  # 2x the median of 5 good steps
    assert "gradient clipping on" in next(e for e in events if e["kind"] == "divergence")["action"]
    state = torch.load(result.run / "checkpoints" / "last.ckpt", weights_only=True)["segtrain_state"]
    assert state["clip_grad"] == pytest.approx(clip[0]["max_norm"])  # kept for a resume
