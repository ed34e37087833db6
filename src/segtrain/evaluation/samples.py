"""Scoring a trained network on whole images of one split at their original resolution.

Every image goes through the same tiled inference and decision (argmax, or the run's sigmoid
threshold) as ``predict``, and is scored by :class:`~segtrain.metrics.evaluator.SegmentationEvaluator`
(pooled, per class, per image; boundary metrics; the horizon metric for binary sky masks).
TIFFs too large for memory are predicted and scored band by band, with the same results.
Multilabel runs score each label as its own binary problem.
"""

from __future__ import annotations

from typing import Any

from segtrain.data.discovery import Sample
from segtrain.data.label_mapping import ignore_label
from segtrain.data.labels import LabelSpec, read_labels
from segtrain.data.sample_io import read_sample_image
from segtrain.data.windows import is_large
from segtrain.evaluation.large_scores import score_large
from segtrain.metrics.evaluator import SegmentationEvaluator
from segtrain.inference.predictor import Predictor
from segtrain.runtime.progress import largest_file, progress_bar, wanted


def evaluate_samples(predictor: Predictor, samples: list[Sample]) -> dict[str, Any]:
    """Scores of ``predictor`` on ``samples`` (see :meth:`SegmentationEvaluator.result`)."""
    meta = predictor.meta
    spec = LabelSpec.from_meta(meta)
    ignore = ignore_label(predictor.config.data)
    if predictor.mode == "multilabel":
        return _evaluate_multilabel(predictor, samples, spec, ignore)
    evaluator = SegmentationEvaluator(int(meta["num_classes"]), meta.get("class_names"), ignore)
    show = wanted(len(samples), largest_file(s.image for s in samples))  # a bar on a terminal, for long work
    with progress_bar("scoring", len(samples), show) as advance:
        for sample in samples:
            if is_large(sample):  # too large for memory: predicted and scored band by band
                score_large(predictor, sample, spec, evaluator)
            else:
                prediction = predictor.classes(predictor.logits(read_sample_image(sample)))
                evaluator.add(sample.stem, prediction, read_labels(sample, spec))
            advance()
    result = evaluator.result()
    result["mode"] = predictor.mode
    if predictor.mode == "binary":
        result["threshold"] = predictor.threshold
    return result


def _evaluate_multilabel(predictor: Predictor, samples: list[Sample], spec: LabelSpec, ignore) -> dict[str, Any]:
    names = list(spec.multilabel or [])
    evaluators = [SegmentationEvaluator(2, ["none", name], ignore) for name in names]
    for sample in samples:
        prediction = predictor.classes(predictor.logits(read_sample_image(sample)))
        truth = read_labels(sample, spec)
        for k, evaluator in enumerate(evaluators):
            evaluator.add(sample.stem, prediction[k], truth[k])
    per_label = {name: ev.result() for name, ev in zip(names, evaluators)}
    per_class = []
    for k, (name, scores) in enumerate(per_label.items()):
        entry = dict(scores["per_class"][1])
        entry.update({"class": k, "name": name, "hd95": scores["hd95"], "boundary_f1": scores["boundary_f1"]})
        per_class.append(entry)

    def mean(key: str, rows=per_class):
        values = [row[key] for row in rows if row.get(key) is not None]
        return sum(values) / len(values) if values else None

    first = next(iter(per_label.values()))
    return {
        "mode": "multilabel",
        "threshold": predictor.threshold,
        "headline": {"name": "mean_dice", "value": mean("dice")},
        "dice": mean("dice"),
        "iou": mean("iou"),
        "mean_dice": mean("dice"),
        "mean_iou": mean("iou"),
        "pixel_accuracy": mean("pixel_accuracy", list(per_label.values())),
        "hd95": mean("hd95"),
        "boundary_f1": mean("boundary_f1"),
        "boundary_tolerance_px": first.get("boundary_tolerance_px"),
        "horizon_row_error_px": None,
        "horizon_angle_error_deg": None,
        "horizon_note": "not computed for multilabel masks",
        "per_class": per_class,
        "per_label": per_label,
        "n_images": len(samples),
    }
