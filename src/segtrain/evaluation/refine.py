"""After training: keep test-time flips and post-processing only where they raise the validation score.

The best checkpoint predicts every validation image that fits in memory once as it is and once
averaged over the flips training used (:mod:`segtrain.inference.flips`). Flips are kept when
their pooled validation score is higher. Then, on the kept predictions, each post-processing
candidate (:mod:`segtrain.inference.postprocess`) is tried for each foreground class in turn:
``fill_holes``, ``largest_component`` and ``remove_small`` at a share of
:data:`SMALL_SHARES` (the best of them). A candidate is kept when it raises the pooled score
over the steps kept before it; ties and losses are rejected. The score is the run's headline:
the foreground Dice for two classes, the mean IoU over classes otherwise, pooled over the
images as :mod:`segtrain.metrics.collection` pools them. The test split is never touched.

The choice is saved in both checkpoints and ``refinement.json`` (``config.yaml`` keeps what the user set) and
applied by ``evaluate``, ``predict`` and the report. Settings the user gave (``--tta``,
``--no-tta``, ``train.postprocess``) are kept as given and only measured. Images too large for
memory are predicted by windows, without flips or post-processing, and are left out here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from segtrain.data.label_mapping import ignore_label
from segtrain.data.labels import read_labels
from segtrain.data.sample_io import read_sample_image
from segtrain.data.windows import is_large
from segtrain.inference.flips import describe, training_flips
from segtrain.inference.postprocess import apply_steps
from segtrain.inference.predictor import Predictor, load_checkpoint
from segtrain.runtime.rundir import save_checkpoint_atomic, write_json

logger = logging.getLogger("segtrain")

SMALL_SHARES = (1e-4, 1e-3, 1e-2)
"""Shares of the image's pixels below which ``remove_small`` removes a region: 0.01%, 0.1% and 1%."""


@dataclass
class Refinement:
    """What was tried on the validation images and what was kept."""

    images: int
    score_before: float
    tta: bool
    tta_views: str
    tta_score: float | None
    seconds_per_megapixel: dict[str, float]
    steps: list[str] = field(default_factory=list)
    tried: list[dict] = field(default_factory=list)
    score_after: float = float("nan")

    def describe(self) -> str:
        flips = (f"flips ({self.tta_views}) {'kept' if self.tta else 'not kept'}"
                 + (f" ({self.tta_score:.4f})" if self.tta_score is not None else ""))
        steps = ", ".join(self.steps) if self.steps else "no post-processing step"
        return (f"validated on {self.images} images: score {self.score_before:.4f} as predicted; {flips}; "
                f"{steps} kept; {self.score_after:.4f} after")


def headline(counts: np.ndarray) -> float:
    """Foreground Dice from a 2x2 confusion matrix, mean IoU over present classes otherwise."""
    tp = np.diag(counts).astype(float)
    fp = counts.sum(0) - tp
    fn = counts.sum(1) - tp
    if counts.shape[0] == 2:
        den = 2 * tp[1] + fp[1] + fn[1]
        return float(2 * tp[1] / den) if den else float("nan")
    den = tp + fp + fn
    present = den > 0
    return float(np.mean(tp[present] / den[present])) if present.any() else float("nan")


class _Scorer:
    """Pooled confusion of class maps against their truths (ignored pixels left out)."""

    def __init__(self, truths: list[np.ndarray], num_classes: int, ignore_index: int | None):
        self.k = num_classes
        self.valid = [(t != ignore_index) if ignore_index is not None else np.ones(t.shape, bool) for t in truths]
        self.truths = [np.clip(t, 0, num_classes - 1).astype(np.int64) for t in truths]

    def counts(self, prediction: np.ndarray, n: int) -> np.ndarray:
        v = self.valid[n]
        index = self.truths[n][v] * self.k + prediction[v].astype(np.int64)
        return np.bincount(index, minlength=self.k * self.k).reshape(self.k, self.k)

    def score(self, predictions: list[np.ndarray]) -> float:
        return headline(sum(self.counts(p, n) for n, p in enumerate(predictions)))


def refine(run, resolved, spec, mode: str, val_samples, device: str = "cpu") -> Refinement | None:
    """Choose flips and post-processing on ``val_samples`` with the best weights (on ``device``); save them
    in the run."""
    if mode == "multilabel":
        return None
    samples = [s for s in val_samples if not is_large(s)]
    if not samples:
        logger.info("no validation image small enough to choose flips and post-processing on; none used")
        return None
    best = run.best if run.best.exists() else run.last
    if not best.exists():
        return None
    predictor = Predictor(load_checkpoint(best), device=device)
    num_classes = int(predictor.meta["num_classes"])
    given_tta, given_steps = resolved.train.tta, resolved.train.postprocess
    views = training_flips(resolved.augment.hflip, resolved.augment.vflip)
    truths, plain, flipped, seconds, pixels = [], [], [], {"as is": 0.0, "flips": 0.0}, 0
    for sample in samples:
        image = read_sample_image(sample)
        truths.append(read_labels(sample, spec))
        pixels += image.shape[0] * image.shape[1]
        plain.append(_predict(predictor, image, False, seconds, "as is"))
        if len(views) > 1 and given_tta is not False:
            flipped.append(_predict(predictor, image, True, seconds, "flips"))
    scorer = _Scorer(truths, num_classes, ignore_label(resolved.data))
    before = scorer.score(plain)
    tta_score = scorer.score(flipped) if flipped else None
    tta = bool(given_tta) if given_tta is not None else (tta_score is not None and tta_score > before)
    result = Refinement(len(samples), before, tta and len(views) > 1, describe(views), tta_score,
                        {k: round(v / (pixels / 1e6), 3) for k, v in seconds.items() if v})
    maps = flipped if result.tta else plain
    if given_steps is not None:
        result.steps = list(given_steps)
    else:
        result.steps, result.tried = _choose_steps(scorer, maps, num_classes)
    result.score_after = scorer.score([apply_steps(m, result.steps) for m in maps])
    logger.info(result.describe())
    _save(run, result)
    return result


def _predict(predictor: Predictor, image, tta: bool, seconds: dict, key: str) -> np.ndarray:
    predictor.tta, predictor.postprocess = tta, []
    start = time.perf_counter()
    classes = predictor.classes(predictor.logits(image))
    seconds[key] += time.perf_counter() - start
    return classes.astype(np.int16 if predictor.meta["num_classes"] > 127 else np.int8)


def _choose_steps(scorer: _Scorer, maps: list[np.ndarray], num_classes: int) -> tuple[list[str], list[dict]]:
    kept: list[str] = []
    tried: list[dict] = []
    current = list(maps)
    score = scorer.score(current)
    for klass in range(1, num_classes):
        for candidates in ([f"fill_holes@{klass}"], [f"largest_component@{klass}"],
                           [f"remove_small:{share:g}@{klass}" for share in SMALL_SHARES]):
            trials = []
            for step in candidates:
                changed = [apply_steps(m, [step]) for m in current]
                trials.append((scorer.score(changed), step, changed))
            best_score, step, changed = max(trials, key=lambda t: np.nan_to_num(t[0], nan=-1.0))
            keep = bool(best_score > score)
            tried.append({"step": step, "score": best_score, "before": score, "kept": keep})
            if keep:
                kept.append(step)
                current, score = changed, best_score
    return kept, tried


def _save(run, result: Refinement) -> None:
    """The choice goes into the checkpoints and ``refinement.json``; ``config.yaml`` keeps what the user
    set, so a resumed run chooses again on its new weights."""
    write_json(run.refinement, {
        "images": result.images, "score_before": result.score_before, "score_after": result.score_after,
        "tta": result.tta, "tta_views": result.tta_views, "tta_score": result.tta_score,
        "seconds_per_megapixel": result.seconds_per_megapixel, "steps": result.steps, "tried": result.tried,
    })
    for path in (run.best, run.last):
        if path.exists():
            content = torch.load(path, map_location="cpu", weights_only=True)
            content["segtrain"]["tta"] = result.tta
            content["segtrain"]["postprocess"] = result.steps
            save_checkpoint_atomic(content, path)
