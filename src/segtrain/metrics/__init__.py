"""Segmentation scores: pooled pixel counts, per-image reductions, boundary and horizon metrics."""

from segtrain.metrics.boundary import boundary_f1, hd95
from segtrain.metrics.collection import confusion_metric, scores_from_confusion
from segtrain.metrics.evaluator import SegmentationEvaluator

__all__ = ["SegmentationEvaluator", "boundary_f1", "confusion_metric", "hd95", "scores_from_confusion"]
