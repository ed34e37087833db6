"""Choosing the sigmoid threshold on the validation split (binary and multilabel runs), and saving it in the run.

The probabilities of all valid validation pixels are counted in 100 equal bins, separately
for pixels that are foreground and background in the truth. For every candidate threshold
``t`` in 0.05, 0.10, ..., 0.95 the pooled counts follow exactly from cumulative sums
(``TP(t)`` = foreground pixels with ``p > t``, and so on), so all candidates are scored from
one pass over the images. The threshold with the highest pooled Dice wins; ties go to the one
closest to 0.5. Multilabel runs share one threshold, chosen by the mean Dice over labels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from segtrain.config import save_config
from segtrain.data.label_mapping import ignore_label
from segtrain.data.labels import read_labels
from segtrain.data.sample_io import read_sample_image
from segtrain.data.windows import is_large
from segtrain.inference.predictor import Predictor, load_checkpoint
from segtrain.runtime.rundir import save_checkpoint_atomic

logger = logging.getLogger("segtrain")

BINS = 100
CANDIDATES = tuple(round(0.05 * k, 2) for k in range(1, 20))


@dataclass
class ThresholdChoice:
    threshold: float
    dice: float
    dice_at_default: float
    candidates: dict[float, float]

    def describe(self) -> str:
        return (f"threshold {self.threshold:.2f} (validation Dice {self.dice:.4f}; "
                f"{self.dice_at_default:.4f} at 0.50)")


class ThresholdCounter:
    """Histogram of foreground probabilities, split by truth; one histogram pair per label."""

    def __init__(self, labels: int = 1):
        self.positive = np.zeros((labels, BINS), dtype=np.int64)
        self.negative = np.zeros((labels, BINS), dtype=np.int64)

    def add(self, probabilities: torch.Tensor, truth: torch.Tensor, ignore_index: int | None = None) -> None:
        """``probabilities`` ``(L, H, W)`` of the foreground (or each label), ``truth`` ``(L, H, W)`` 0/1."""
        p = probabilities.detach().float().cpu().numpy()
        t = truth.detach().cpu().numpy()
        bins = np.clip((p * BINS).astype(np.int64), 0, BINS - 1)
        for k in range(p.shape[0]):
            valid = np.ones_like(t[k], dtype=bool) if ignore_index is None else t[k] != ignore_index
            fg = valid & (t[k] == 1)
            bg = valid & (t[k] != 1)
            self.positive[k] += np.bincount(bins[k][fg], minlength=BINS)
            self.negative[k] += np.bincount(bins[k][bg], minlength=BINS)

    def dice(self, threshold: float) -> float:
        """Mean over labels of the pooled Dice at ``threshold`` (a multiple of 1/100)."""
        cut = int(round(threshold * BINS))
        tp = self.positive[:, cut:].sum(1)
        fn = self.positive[:, :cut].sum(1)
        fp = self.negative[:, cut:].sum(1)
        den = 2 * tp + fp + fn
        scores = np.where(den > 0, 2 * tp / np.maximum(den, 1), np.nan)
        return float(np.nanmean(scores)) if np.isfinite(scores).any() else float("nan")

    def choose(self) -> ThresholdChoice:
        scores = {t: self.dice(t) for t in CANDIDATES}
        best = max(scores, key=lambda t: (np.nan_to_num(scores[t], nan=-1.0), -abs(t - 0.5)))
        return ThresholdChoice(best, scores[best], scores[0.5], scores)


def tune_threshold(run, resolved, spec, mode, val_samples, device: str = "cpu") -> None:
    """Choose the sigmoid threshold on the validation images with the best weights; save it in the run."""
    if mode == "multiclass":
        logger.info("--tune-threshold: nothing to tune in multiclass mode (argmax decides)")
        return
    large = [s for s in val_samples if is_large(s)]
    if large:  # the counts hold every probability of an image at once
        logger.warning(f"warning: --tune-threshold leaves out {len(large)} validation image(s) too large for memory "
                       f"(e.g. {large[0].image})")
        val_samples = [s for s in val_samples if not is_large(s)]
    if not val_samples:
        logger.warning("warning: --tune-threshold: no validation image small enough to tune on; the threshold stays")
        return
    best = run.best if run.best.exists() else run.last
    predictor = Predictor(load_checkpoint(best), device=device)
    counter = ThresholdCounter(1 if mode == "binary" else int(predictor.meta["num_classes"]))
    for sample in val_samples:
        logits = predictor.logits(read_sample_image(sample))
        labels = torch.from_numpy(read_labels(sample, spec))
        probs = torch.sigmoid(logits[0].float())
        counter.add(probs, labels[None] if mode == "binary" else labels, ignore_label(resolved.data))
    choice = counter.choose()
    logger.info(f"tuned on {len(val_samples)} validation images: {choice.describe()}")
    resolved.train.threshold = choice.threshold
    save_config(resolved, run.config)
    for path in (run.best, run.last):
        if path.exists():
            content = torch.load(path, map_location="cpu", weights_only=True)
            content["segtrain"]["threshold"] = choice.threshold
            content["segtrain"]["config"]["train"]["threshold"] = choice.threshold
            save_checkpoint_atomic(content, path)
