"""Ignored pixels end to end: a raw ignore value through the check, the labels, the loss and the scores
(segtrain.data.labels, segtrain.data.label_mapping.ignore_label)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from helpers.datasets import write_pairs
from segtrain.config.schema import DataConfig
from segtrain.data.check.dataset import check_dataset
from segtrain.data.label_mapping import IGNORE_LABEL, ignore_label
from segtrain.data.labels import LabelSpec, read_labels
from segtrain.losses.ce import cross_entropy
from segtrain.metrics.reductions import class_scores, confusion_counts


def _bordered() -> np.ndarray:
    """16x16: background 0, an 8x8 object of 1, a 255 border of 16 pixels along its top and left sides."""
    m = np.zeros((16, 16), np.uint8)
    m[4:12, 4:12] = 1
    m[4:12, 3] = 255
    m[3, 4:12] = 255
    return m


def test_ignore_label_follows_the_data_settings() -> None:
    assert ignore_label(DataConfig()) is None
    assert ignore_label(DataConfig(ignore_index=0)) == IGNORE_LABEL  # the raw value is not the label
    assert ignore_label(DataConfig(has_ignored=True)) == IGNORE_LABEL


def test_a_255_border_is_left_out_of_the_loss_and_the_scores(tmp_path) -> None:
    root = write_pairs(tmp_path / "d", {"a": _bordered(), "b": _bordered()})
    report = check_dataset(root, ignore_index=255)
    spec = LabelSpec.from_report(report)
    labels = read_labels(report.samples[0], spec)
    border = _bordered() == 255
    assert (labels[border] == IGNORE_LABEL).all() and set(np.unique(labels[~border]).tolist()) == {0, 1}
    ignore = ignore_label(DataConfig(ignore_index=255))

    # the loss: the mean over the 240 labelled pixels only
    logits = torch.randn(1, 2, 16, 16, generator=torch.Generator().manual_seed(0))
    target = torch.from_numpy(labels)[None]
    loss = cross_entropy(logits, target, ignore_index=ignore)
    keep = torch.from_numpy(~border)
    by_hand = F.cross_entropy(logits[0].permute(1, 2, 0)[keep], target[0][keep])
    torch.testing.assert_close(loss, by_hand)

    # the scores: a prediction right everywhere, saying background on the border
    prediction = np.where(border, 0, labels)
    with_ignore = confusion_counts(prediction, labels, 2, ignore)
    assert with_ignore.tolist() == [[176, 0], [0, 64]]  # 256 - 64 - 16 background pixels, 64 object pixels
    assert class_scores(with_ignore)["dice"].tolist() == [1.0, 1.0]
    # the same border counted as a third class (what the bug did): background Dice 2*176 / (2*176 + 16)
    counted = confusion_counts(prediction, np.where(border, 2, labels), 3)
    assert np.isclose(class_scores(counted)["dice"][0], 2 * 176 / (2 * 176 + 16))
