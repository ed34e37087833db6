"""``train.logger``: TensorBoard event files beside the CSV histories, or a one-line refusal."""

from __future__ import annotations

import csv
import importlib.util

import pytest

from helpers.datasets import make_dataset

TINY = {"model": {"width": 4, "depth": 2}, "train": {"precision": "32"}}


def test_tensorboard_events_hold_what_the_csv_files_hold(tmp_path, no_memory_probe):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install tensorboard)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import segtrain

    data = make_dataset(tmp_path / "data", n=10, size=(32, 32))
    result = segtrain.train(data, tmp_path / "run", config=TINY, epochs=2, batch_size=4, patch_size=32, lr=1e-3,
                            lr_find=False, progress=False, report=False, logger="tensorboard")
    events = EventAccumulator(str(result.run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "val/dice", "val/loss"} <= tags and any(t.startswith("lr-") for t in tags)
    steps = list(csv.DictReader((result.run / "steps.csv").open()))
    logged = events.Scalars("train/loss")
    assert len(logged) == len(steps) == result.steps
    for event, row in zip(logged, steps):
        assert event.value == pytest.approx(float(row["loss"]), rel=1e-5)
    rate = events.Scalars(next(t for t in tags if t.startswith("lr-")))
    assert [e.value for e in rate] == pytest.approx([float(r["lr"]) for r in steps], rel=1e-6)
    epochs = list(csv.DictReader((result.run / "metrics.csv").open()))
    assert [e.value for e in events.Scalars("val/dice")] == pytest.approx([float(r["val_dice"]) for r in epochs],
                                                                         rel=1e-4)


def test_missing_tensorboard_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import segtrain
    from segtrain.errors import UserError

    data = make_dataset(tmp_path / "data", n=6, size=(32, 32))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] in ("tensorboard", "tensorboardX") else real(name, *a))
    with pytest.raises(UserError, match=r"--logger tensorboard needs the tensorboard package: pip install"):
        segtrain.train(data, tmp_path / "run", config=TINY, max_steps=1, logger="tensorboard")
    assert not (tmp_path / "run").exists()


def test_csv_logger_adds_no_lightning_logger(tmp_path):
    from segtrain.engine.loggers import experiment_logger
    from segtrain.runtime.rundir import RunDir

    assert experiment_logger(RunDir(tmp_path), "csv") is None


def test_mlflow_writes_a_local_store_with_the_runs_metrics(tmp_path, no_memory_probe, monkeypatch):
    pytest.importorskip("mlflow", reason="mlflow is not installed (pip install mlflow-skinny)")
    import mlflow

    import segtrain

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    data = make_dataset(tmp_path / "data", n=10, size=(32, 32))
    result = segtrain.train(data, tmp_path / "run", config=TINY, epochs=2, batch_size=4, patch_size=32, lr=1e-3,
                            lr_find=False, progress=False, report=False, logger="mlflow")
    client = mlflow.tracking.MlflowClient(f"file:{result.run / 'mlruns'}")
    experiment = client.get_experiment_by_name("segtrain")
    (logged,) = client.search_runs([experiment.experiment_id])
    history = client.get_metric_history(logged.info.run_id, "val/dice")
    epochs = list(csv.DictReader((result.run / "metrics.csv").open()))
    assert [m.value for m in history] == pytest.approx([float(r["val_dice"]) for r in epochs], rel=1e-4)
    assert len(client.get_metric_history(logged.info.run_id, "train/loss")) == result.steps


@pytest.mark.parametrize("name, package", [("mlflow", "mlflow"), ("wandb", "wandb")])
def test_a_missing_logger_package_is_named_with_its_install_line(tmp_path, monkeypatch, name, package):
    import segtrain
    from segtrain.errors import UserError

    data = make_dataset(tmp_path / "data", n=6, size=(32, 32))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda module, *a: None if module.split(".")[0] == package else real(module, *a))
    with pytest.raises(UserError, match=rf"--logger {name} needs the {package} package: pip install {package}"):
        segtrain.train(data, tmp_path / "run", config=TINY, max_steps=1, logger=name)
    assert not (tmp_path / "run").exists()
