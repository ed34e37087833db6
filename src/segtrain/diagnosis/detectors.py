"""All detectors, and running them over a history.

Every ``detect_*`` is a pure function ``RunHistory -> list[Finding]``: it never prints, writes
or acts. Their thresholds are named constants beside them, with the reason, in the private
modules ``_steps`` (failed steps, learning rate, first steps), ``_gradients`` (gradient norms),
``_epochs`` (per-epoch metrics) and ``_events`` (stops, memory retries, workers).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

from segtrain.diagnosis._epochs import (
    detect_class_zero_dice,
    detect_data_loading,
    detect_memory_high,
    detect_overfitting,
    detect_predicts_background,
    detect_underfitting,
    detect_unstable_validation,
)
from segtrain.diagnosis._events import detect_interrupted, detect_oom, detect_stop, detect_workers_fallback
from segtrain.diagnosis._gradients import detect_exploding_gradients, detect_vanishing_gradients
from segtrain.diagnosis._steps import detect_loss_not_falling, detect_lr_too_high, detect_nonfinite
from segtrain.diagnosis.findings import SEVERITIES, Finding
from segtrain.diagnosis.history import RunHistory

Detector = Callable[[RunHistory], list[Finding]]

CODES = {
    "labels_out_of_range": "non-finite steps caused by mask labels outside the model's classes",
    "nonfinite_inputs": "non-finite steps caused by NaN or infinite values in the input images",
    "precision_overflow": "non-finite steps caused by overflow in reduced precision",
    "nonfinite_loss": "non-finite steps of unknown cause",
    "lr_too_high": "the loss diverged: the learning rate is too high",
    "exploding_gradients": "gradient-norm spikes or sustained growth",
    "vanishing_gradients": "early layers get orders of magnitude less gradient than late ones",
    "loss_not_falling": "the training loss did not fall over the first steps",
    "overfitting": "validation loss rising while training loss falls",
    "underfitting": "both losses flat and high",
    "unstable_validation": "the validation score swings up and down between epochs",
    "predicts_background": "the model predicts (almost) no foreground",
    "class_zero_dice": "a foreground class stuck at zero Dice while others learn",
    "data_loading": "training mostly waits for data",
    "memory_high": "peak memory close to the limit",
    "early_stopping": "training stopped early (info)",
    "training_stopped": "training stopped for another reason",
    "interrupted": "training was interrupted (Ctrl-C) and not resumed",
    "out_of_memory": "an out-of-memory error recovered by halving the micro-batch (info)",
    "workers_fallback": "data-loading workers could not start",
    "detector_failed": "a detector raised an exception (a bug in segtrain, not in the run)",
}
"""Every finding code, with what it means."""

ALL_DETECTORS: tuple[Detector, ...] = (
    detect_nonfinite,
    detect_lr_too_high,
    detect_exploding_gradients,
    detect_vanishing_gradients,
    detect_loss_not_falling,
    detect_overfitting,
    detect_underfitting,
    detect_unstable_validation,
    detect_predicts_background,
    detect_class_zero_dice,
    detect_data_loading,
    detect_memory_high,
    detect_stop,
    detect_interrupted,
    detect_oom,
    detect_workers_fallback,
)

__all__ = ["ALL_DETECTORS", "CODES", "Detector", "run_detectors", "sort_findings"] + [d.__name__ for d in ALL_DETECTORS]


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings ordered by severity (error, warning, info), then by step (findings without one last)."""
    def key(f: Finding) -> tuple[int, float]:
        return SEVERITIES.index(f.severity), f.step if f.step is not None else math.inf

    return sorted(findings, key=key)


def run_detectors(history: RunHistory, detectors: Iterable[Detector] = ALL_DETECTORS) -> list[Finding]:
    """Run ``detectors`` over ``history``; their findings sorted by :func:`sort_findings`.

    A detector that raises does not stop the others: it gives a ``detector_failed`` info
    finding naming it and the error (diagnosis must never break the training that calls it).
    """
    findings: list[Finding] = []
    for detector in detectors:
        try:
            findings.extend(detector(history))
        except Exception as exc:  # noqa: BLE001 - reported as a finding, see the docstring
            name = getattr(detector, "__name__", repr(detector))
            findings.append(Finding("detector_failed", "info", f"{name} failed: {type(exc).__name__}: {exc}", "",
                                    {"detector": name, "error": f"{type(exc).__name__}: {exc}"}))
    return sort_findings(findings)
