"""Scores from pooled pixel counts (torchmetrics under the hood)."""

from segtrain.metrics.collection import confusion_metric, scores_from_confusion

__all__ = ["confusion_metric", "scores_from_confusion"]
