"""The run's network on its test images, once: the pixel confusion matrix and a few kept examples.

Images are read with :func:`~segtrain.data.readers.read_image`, truths with
:func:`~segtrain.data.labels.read_labels` and the checkpoint's
:class:`~segtrain.data.labels.LabelSpec`, predictions with
:meth:`Predictor.logits <segtrain.inference.predictor.Predictor.logits>` and
:meth:`~segtrain.inference.predictor.Predictor.classes`: the same reading, inference and
decision as ``segtrain evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from segtrain.data.discovery import discover
from segtrain.data.layouts import LayoutOptions
from segtrain.data.label_mapping import ignore_label
from segtrain.data.labels import LabelSpec, read_labels
from segtrain.data.sample_io import read_sample_image
from segtrain.errors import UserError
from segtrain.metrics.reductions import confusion_counts
from segtrain.reporting.overlays import Example


@dataclass
class TestPredictions:
    """What :func:`predict_samples` found.

    Attributes
    ----------
    confusion : numpy.ndarray
        ``int64`` pixel counts, rows truth and columns prediction: ``(C, C)``, or ``(L, 2, 2)``
        (one binary matrix per label) for multilabel runs. Ignored pixels are not counted.
    examples : dict
        stem -> :class:`~segtrain.reporting.overlays.Example` for the stems asked to be kept.
    """

    confusion: np.ndarray
    examples: dict[str, Example] = field(default_factory=dict)


def dataset_samples(root: Path | str | None, layout: LayoutOptions | None = None) -> dict:
    """stem -> :class:`~segtrain.data.discovery.Sample` of the dataset at ``root`` (read with the run's
    ``layout`` options); empty when it is gone."""
    if root is None or not Path(root).is_dir():
        return {}
    try:
        return {sample.stem: sample for sample in discover(root, layout).samples}
    except UserError:
        return {}


def read_example(sample, spec, dice: float | None = None) -> Example:
    """The image and truth of one sample (no prediction)."""
    return Example(sample.stem, read_sample_image(sample), read_labels(sample, spec), dice=dice)


def predict_samples(predictor, samples: Iterable, keep: Iterable[str] = (),
                    dice: dict[str, float] | None = None) -> TestPredictions:
    """Run ``predictor`` on every sample; sum the confusion counts, keep the examples in ``keep``.

    Parameters
    ----------
    predictor : segtrain.inference.predictor.Predictor
        The run's network.
    samples : iterable of Sample
        The images to predict (the test split).
    keep : iterable of str
        Stems whose image, truth and prediction are kept for drawing.
    dice : dict, optional
        stem -> per-image Dice, copied into the kept examples.

    Returns
    -------
    TestPredictions
    """
    spec = LabelSpec.from_meta(predictor.meta)
    ignore = ignore_label(predictor.config.data)
    multilabel = predictor.mode == "multilabel"
    num_classes = int(predictor.meta["num_classes"])
    confusion = np.zeros((num_classes, 2, 2) if multilabel else (num_classes, num_classes), dtype=np.int64)
    keep, dice = set(keep), dice or {}
    examples: dict[str, Example] = {}
    for sample in samples:
        example = read_example(sample, spec, dice.get(sample.stem))
        prediction = predictor.classes(predictor.logits(example.image))
        if multilabel:
            for k in range(num_classes):
                confusion[k] += confusion_counts(prediction[k], example.truth[k], 2, ignore)
        else:
            confusion += confusion_counts(prediction, example.truth, num_classes, ignore)
        if sample.stem in keep:
            examples[sample.stem] = Example(example.stem, example.image, example.truth, prediction, example.dice)
    return TestPredictions(confusion, examples)
