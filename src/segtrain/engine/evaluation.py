"""Scoring a trained network on whole images of one split at their original resolution."""

from __future__ import annotations

from typing import Any

import torch

from segtrain.data.checks import apply_label_mapping
from segtrain.data.discovery import Sample
from segtrain.data.readers import read_image, read_mask
from segtrain.metrics import confusion_metric, scores_from_confusion
from segtrain.predict.predictor import Predictor


def evaluate_samples(predictor: Predictor, samples: list[Sample]) -> dict[str, Any]:
    """Pooled scores over all pixels of ``samples`` plus each image's own scores.

    Returns the keys of :func:`~segtrain.metrics.scores_from_confusion` and ``n_images`` and
    ``per_image`` (``stem``, ``dice``, ``iou``, ``pixel_accuracy`` of each image).
    """
    num_classes = int(predictor.meta["num_classes"])
    ignore = predictor.config.data.ignore_index
    mapping = {int(k): int(v) for k, v in predictor.meta["label_mapping"].items()}
    pooled = None
    per_image = []
    for sample in samples:
        logits = predictor.logits(read_image(sample.image))
        prediction = torch.from_numpy(predictor.classes(logits))[None]
        truth = torch.from_numpy(apply_label_mapping(read_mask(sample.mask), mapping))[None]
        single = confusion_metric(num_classes, ignore)
        single.update(prediction, truth)
        confusion = single.compute()
        pooled = confusion if pooled is None else pooled + confusion
        scores = scores_from_confusion(confusion)
        per_image.append(
            {"stem": sample.stem, "dice": scores["dice"], "iou": scores["iou"], "pixel_accuracy": scores["pixel_accuracy"]}
        )
    result = scores_from_confusion(pooled if pooled is not None else torch.zeros(num_classes, num_classes))
    result["n_images"] = len(samples)
    result["per_image"] = per_image
    return result
