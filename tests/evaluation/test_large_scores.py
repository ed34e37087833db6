"""Validation and evaluation of TIFFs too large for memory, band by band, equal the in-memory paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.networks import tiny_checkpoint
from helpers.tiffs import class_mask, smooth_image, write_tiff
from segtrain.data import windows
from segtrain.data.discovery import Sample
from segtrain.data.labels import LabelSpec, read_labels
from segtrain.data.readers import read_image
from segtrain.data.normalize import normalize
from segtrain.evaluation import large_scores
from segtrain.inference import large
from segtrain.inference.predictor import Predictor
from segtrain.metrics.evaluator import SegmentationEvaluator


def _sample(root, stem, image, mask, layout="contiguous"):
    return Sample(stem, write_tiff(root / "images" / f"{stem}.tif", image[..., 0] if image.shape[-1] == 1 else image,
                                   layout),
                  write_tiff(root / "masks" / f"{stem}.tif", mask, layout))


def _horizon(height, width, slope, row0):
    rows = np.clip(np.round(slope * np.arange(width) + row0), 0, height).astype(int)
    return np.where(np.arange(height)[:, None] < rows[None, :], 255, 0).astype(np.uint8)  # sky on top


def _assert_close(a, b, path="result"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _assert_close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{path}[{k}]")
    elif isinstance(a, float) and b is not None:
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9), path
    else:
        assert a == b, path


@pytest.mark.parametrize("case", ["horizon", "three-classes-ignored"])
def test_evaluation_by_windows_equals_the_in_memory_scores(tmp_path, monkeypatch, case):
    monkeypatch.setattr(large, "STRIP_BYTES", 40_000)
    if case == "horizon":
        spec = LabelSpec({0: 0, 255: 1})
        predictor = Predictor(tiny_checkpoint(classes=2, in_channels=1, label_mapping={"0": 0, "255": 1}), bf16=False)
        samples = [_sample(tmp_path, "a", smooth_image(150, 170, 1, seed=1), _horizon(150, 170, 0.2, 50)),
                   _sample(tmp_path, "b", smooth_image(130, 190, 1, np.uint16, seed=2), _horizon(130, 190, -0.1, 70),
                           "tiled-zlib")]
    else:
        spec = LabelSpec({0: 0, 1: 1, 2: 2, 9: 255})
        predictor = Predictor(tiny_checkpoint(classes=3, in_channels=3, ignore_index=255), bf16=False)
        masks = [class_mask(140, 160, 3, 1), class_mask(100, 180, 3, 2)]
        for mask in masks:
            mask[40:60, 30:90] = 9  # ignored
        samples = [_sample(tmp_path, "a", smooth_image(140, 160, 3, seed=1), masks[0]),
                   _sample(tmp_path, "b", smooth_image(100, 180, 3, seed=2), masks[1], "tiled-zlib")]
    ignore = predictor.config.data.ignore_index
    num_classes = int(predictor.meta["num_classes"])
    if case == "horizon":  # an untrained network: cut at its median so both classes occur
        logits = predictor.logits(read_image(samples[0].image))
        predictor.threshold = float(np.median(predictor.probabilities(logits)[1]))

    in_memory = SegmentationEvaluator(num_classes, ignore_index=ignore)
    for sample in samples:
        in_memory.add(sample.stem, predictor.classes(predictor.logits(read_image(sample.image))),
                      read_labels(sample, spec))
    by_windows = SegmentationEvaluator(num_classes, ignore_index=ignore)
    rows = [large_scores.score_large(predictor, sample, spec, by_windows) for sample in samples]
    expected, result = in_memory.result(), by_windows.result()
    assert result["per_image"] == rows
    if case == "horizon":
        assert expected["n_horizon_images"] == 2
    assert expected["hd95"] is not None and 0 < expected["dice"] < 1
    _assert_close(result, expected)


def test_validation_by_windows_equals_the_validation_step(tmp_path, monkeypatch):
    from segtrain.engine.module import SegmentationModule
    from segtrain.inference.tiling import logits_to_classes, tiled_logits
    from segtrain.metrics import confusion_metric
    from segtrain.metrics.reductions import confusion_counts

    monkeypatch.setattr(large, "STRIP_BYTES", 40_000)
    module = SegmentationModule(tiny_checkpoint(classes=3, in_channels=3, ignore_index=255)["segtrain"]).eval()
    spec = LabelSpec({0: 0, 1: 1, 2: 2, 9: 255})
    mask = class_mask(170, 150, 3, 4)
    mask[:20] = 9
    sample = _sample(tmp_path, "v", smooth_image(170, 150, 3, seed=4), mask, "tiled-zlib")

    image = torch.from_numpy(normalize(read_image(sample.image)))[None]  # what WholeImages and validation_step do
    truth = torch.from_numpy(read_labels(sample, spec))[None]
    logits = tiled_logits(module, image, 64, module.config.train.val_overlap)
    expected = confusion_counts(logits_to_classes(logits, module.mode)[0].numpy(), truth[0].numpy(), 3, 255)
    metric = confusion_metric(3, 255)
    score = large_scores.confusion_large(module, sample, spec, loss_fn=module.loss_fn, update=metric.update)
    assert np.array_equal(score.confusion.numpy(), expected)
    assert np.array_equal(metric.compute().numpy(), expected)
    assert score.pixels == int((truth != 255).sum())
    assert score.loss == pytest.approx(float(module.loss_fn(logits, truth)), rel=1e-5)  # cross-entropy: exact


def test_whole_images_hand_large_images_over_as_paths(tmp_path, monkeypatch):
    from segtrain.data.loaders.datamodule import WholeImages

    sample = _sample(tmp_path, "w", smooth_image(40, 50, 1), class_mask(40, 50, 2))
    images = WholeImages([sample], LabelSpec({0: 0, 1: 1}))
    monkeypatch.setattr(windows, "WINDOW_BYTES", 1)
    assert images[0] == (str(sample.image), str(sample.mask), 0)
    monkeypatch.setattr(windows, "WINDOW_BYTES", 1 << 40)
    image, mask, index = images[0]
    assert image.shape == (1, 40, 50) and mask.shape == (40, 50) and index == 0


def test_multilabel_runs_are_refused_by_name(tmp_path):
    predictor = Predictor(tiny_checkpoint(classes=2, in_channels=1), bf16=False)
    predictor.mode = "multilabel"
    sample = _sample(tmp_path, "m", smooth_image(40, 50, 1), class_mask(40, 50, 2))
    with pytest.raises(Exception, match=r"m\.tif: multilabel runs cannot be evaluated by windows"):
        large_scores.score_large(predictor, sample, LabelSpec({0: 0, 1: 1}), SegmentationEvaluator(2))
