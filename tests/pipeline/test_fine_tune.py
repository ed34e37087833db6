"""``train NEW --init-from RUN``: RUN's classes, channels and weights, or one line saying why not."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest

import segtrain
from helpers.datasets import make_dataset
from helpers.networks import tiny_checkpoint, tiny_run_folder
from segtrain.config import SegtrainConfig
from segtrain.errors import UserError
from segtrain.pipeline import fine_tune
from segtrain.pipeline.fine_tune import Source, apply_source, fit_labels


def _source(classes=2, mapping=None, channels=1, lr=3e-3, model=None) -> Source:
    config = SegtrainConfig.model_validate({"train": {"lr": lr}, "model": model or {"width": 8, "depth": 2}})
    meta = {"num_classes": classes, "in_channels": channels, "config": config.model_dump(mode="json"),
            "label_mapping": mapping or {str(i): i for i in range(classes)}}
    return Source(Path("/runs/A"), Path("/runs/A/checkpoints/best.ckpt"), meta, config, 0.9)


def _report(mapping, pixels, channels=1, mask_format="index"):
    return SimpleNamespace(label_mapping=mapping, class_pixels=list(pixels), channels=channels,
                           class_pixels_per_image={"a": list(pixels)}, multilabel=None, colour_masks=False,
                           mask_format=mask_format, num_classes=len(pixels), class_names=None)


def test_new_masks_get_the_runs_classes_and_their_pixels_are_renumbered():
    source = _source(3, {"0": 0, "128": 1, "255": 2})
    report = _report({0: 0, 255: 1}, [70, 30], mask_format="binary 0/255")  # no 128 in the new masks
    fit_labels(report, source, "B")
    assert report.label_mapping == {0: 0, 128: 1, 255: 2}
    assert report.num_classes == 3
    assert report.class_pixels == [70, 0, 30] and report.class_pixels_per_image == {"a": [70, 0, 30]}


def test_binary_masks_fit_a_binary_run_whatever_values_they_use():
    report = _report({0: 0, 255: 1}, [5, 5], mask_format="binary 0/255")
    fit_labels(report, _source(2, {"0": 0, "1": 1}), "B")
    assert report.label_mapping == {0: 0, 255: 1} and report.class_pixels == [5, 5]


def test_values_that_are_not_classes_of_the_run_are_refused_by_name():
    with pytest.raises(UserError) as err:
        fit_labels(_report({0: 0, 1: 1, 2: 2, 7: 3}, [1, 1, 1, 1]), _source(3), "B")
    message = str(err.value)
    assert "\n" not in message and "mask value(s) 7 are not classes of /runs/A" in message
    assert "its values: 0, 1, 2" in message


def test_another_number_of_channels_is_refused():
    with pytest.raises(UserError, match="images have 3 channel.* trained on 1"):
        fit_labels(_report({0: 0, 1: 1}, [1, 1], channels=3), _source(), "B")


def test_the_run_keeps_the_network_and_gets_a_fine_tuning_rate():
    cfg = SegtrainConfig()
    apply_source(cfg, _source(lr=3e-3))
    assert (cfg.model.width, cfg.model.depth) == (8, 2)
    assert cfg.train.lr == pytest.approx(3e-3 * fine_tune.RATE_FACTOR) and cfg.train.lr_find is False
    cfg = SegtrainConfig.model_validate({"model": {"width": 32}})
    with pytest.raises(UserError, match="model.width 32: --init-from /runs/A keeps its network"):
        apply_source(cfg, _source())


def test_train_refuses_data_whose_classes_do_not_fit_before_writing_anything(tmp_path):
    run = tiny_run_folder(tmp_path / "A", tiny_checkpoint(classes=2, in_channels=1))
    data = make_dataset(tmp_path / "B", n=6, classes=3)
    with pytest.raises(UserError, match=r"mask value\(s\) 2 are not classes of"):
        segtrain.train(data, tmp_path / "new", init_from=run, epochs=1)
    assert not (tmp_path / "new").exists()


def _first_epoch_dice(run: Path) -> float:
    with open(run / "metrics.csv") as f:
        return float(next(csv.DictReader(f))["val_dice"])


@pytest.mark.slow
def test_fine_tuning_starts_higher_than_the_same_run_from_scratch(tmp_path, no_memory_probe):
    from lightning.pytorch import Callback
    from lightning.pytorch.loggers import CSVLogger

    class Epochs(Callback):
        count = 0

        def on_train_epoch_end(self, trainer, module):
            self.count += 1

    fast = dict(batch_size=8, patch_size=64, num_workers=0, precision="32", report=False)
    first, second = segtrain.synth(tmp_path / "A", n=30, size=64, seed=1), segtrain.synth(tmp_path / "B", n=30, size=64,
                                                                                            seed=2)
    counter, csv_logger = Epochs(), CSVLogger(tmp_path / "logs", name="user")
    source = segtrain.train(first, tmp_path / "runA", epochs=3, lr=3e-3, callbacks=[counter], loggers=[csv_logger],
                            **fast)
    assert counter.count == 3  # the user's callback saw every epoch
    logged = (Path(csv_logger.log_dir) / "metrics.csv").read_text()
    assert "val/dice" in logged.splitlines()[0]
    assert len((source.run / "metrics.csv").read_text().splitlines()) == 4  # segtrain's own history all the same

    tuned = segtrain.train(second, tmp_path / "tuned", epochs=1, init_from=source.run, **fast)
    scratch = segtrain.train(second, tmp_path / "scratch", epochs=1, lr=3e-3, **fast)
    assert _first_epoch_dice(tuned.run) > _first_epoch_dice(scratch.run) + 0.05
    plan = (tuned.run / "plan.json").read_text()
    assert "fine-tunes from" in plan and "fine-tuning rate" in plan
    record = fine_tune.compare(tuned.run)
    assert record["init_from"] == str(source.run.resolve()) and record["n_images"] > 0
    assert (tuned.run / "fine_tuning.json").exists()
    on_theirs = record["on_source_validation"]  # the comparison: on the source run's validation images
    assert on_theirs["n_images"] > 0 and on_theirs["source_dice"] == pytest.approx(
        segtrain.evaluate(source.run, split="val")["dice"])
