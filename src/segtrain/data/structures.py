"""How large the structures of each class are, and what resampling would cost them.

Measured on (a sample of) the training masks, before any training, so the planner can choose
the input scale from the data (:mod:`segtrain.planning.resolution`):

- **widths**: on the ridge of each class's distance transform (the pixels that are farthest
  from the other classes locally), ``2 * distance - 1`` is the width of the structure there;
  weighted by that width, each ridge pixel stands for its cross-section, so the weighted
  quantiles say which widths carry which share of the class's pixels. ``thin_px`` is the width
  below which the thinnest :data:`THIN_SHARE` of a class lies.
- **ceilings**: the Dice that a perfect prediction made at scale ``s`` would still reach at the
  original resolution: each class's coverage of every low-resolution pixel (the ideal soft
  prediction there), resized back bilinearly (as inference resizes logits) and decided by the
  largest. What resampling erases (membranes thinner than a pixel at ``s``) no training recovers.
- **layout**: how far a class's mean position lies from the image centre (a sky sits at the top,
  a road at the bottom; cells of a micrograph are everywhere), which decides whether flips
  and rotations keep a scene plausible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np
from PIL import Image

from segtrain.data.rescale import FILL, FIT, class_coverage, input_size

MAX_MASKS = 24
"""Training masks measured (spread evenly over the split): widths and ceilings settle within a few
hundredths on a couple of dozen masks, and the measurement stays under a few seconds."""
THIN_SHARE = 0.10
"""The thinnest tenth of a class's pixels defines its thin width: a share that counts in its Dice."""


@dataclass
class ClassStructure:
    """One class: its share of the measured pixels, widths in pixels, and Dice ceiling by scale."""

    share: float
    thin_px: float | None
    median_px: float | None
    ceilings: dict[str, float] = field(default_factory=dict)
    """``"%.4g" % scale`` -> Dice a perfect prediction at that scale reaches at full resolution."""


@dataclass
class Structures:
    """The measurement of :func:`measure_structures`."""

    masks: int
    classes: list[ClassStructure]
    vertical_offset: float
    """Largest distance of a class's mean row from the centre, as a share of the height (0 to 0.5)."""
    horizontal_offset: float

    def ceiling(self, scale: float) -> list[float | None]:
        """Each class's Dice ceiling at ``scale`` (None where not measured or the class is absent)."""
        key = scale_key(scale)
        return [c.ceilings.get(key) for c in self.classes]

    def to_dict(self) -> dict:
        return asdict(self)


HALF_FIT = "fit/2"
"""Half of :data:`~segtrain.data.rescale.FIT`: each image's long side fills half the patch."""
HALF_FILL = "fill/2"
"""Half of :data:`~segtrain.data.rescale.FILL`: each image resized to half the patch."""
_HALVES = {FIT: HALF_FIT, FILL: HALF_FILL}
_NAMED = (FIT, FILL, HALF_FIT, HALF_FILL)


def scale_key(scale) -> str:
    """How a scale names its ceilings: ``"fit"``, ``"fill"``, their halves or the factor to 4 significant digits."""
    return scale if scale in _NAMED else f"{float(scale):.4g}"


def half_of(scale):
    """The scale of half the resolution of ``scale`` (a factor, ``"fit"`` or ``"fill"``)."""
    if scale in _HALVES:
        return _HALVES[scale]
    if scale in _NAMED:
        raise ValueError(f"half of {scale} is not a measured scale")
    return float(scale) / 2


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, q * cumulative[-1])])


def _ridge_widths(region: np.ndarray) -> np.ndarray:
    """Widths in pixels on the ridge (medial axis) of a boolean region's distance transform.

    A pixel is on the ridge when, along one of the four directions (rows, columns, diagonals), it is
    at least as far from the region's edge as both neighbours and farther than one of them: across a
    band of any slope its centre line qualifies, while an edge pixel, level with its neighbours
    along the edge, does not.
    """
    from scipy import ndimage  # scipy: only when a plan is made

    d = np.pad(ndimage.distance_transform_edt(region), 1)
    centre = d[1:-1, 1:-1]
    ridge = np.zeros(centre.shape, bool)
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        before = d[1 - dr:d.shape[0] - 1 - dr, 1 - dc:d.shape[1] - 1 - dc]
        after = d[1 + dr:d.shape[0] - 1 + dr, 1 + dc:d.shape[1] - 1 + dc]
        ridge |= (centre >= before) & (centre >= after) & (centre > np.minimum(before, after))
    return 2 * centre[ridge & region] - 1


def _round_trip(labels: np.ndarray, scale, patch: int, values: np.ndarray) -> np.ndarray:
    """The labels a perfect prediction at ``scale`` gives back at full size (see the module docstring)."""
    height, width = labels.shape
    if scale in (HALF_FIT, HALF_FILL):
        scale, patch = {half: whole for whole, half in _HALVES.items()}[scale], max(1, round(patch / 2))
    coverage = class_coverage(labels, input_size(height, width, scale, patch), values)
    back = [np.asarray(Image.fromarray(plane, mode="F").resize((width, height), Image.Resampling.BILINEAR))
            for plane in coverage]
    return values[np.argmax(np.stack(back), axis=0)]


def measure_structures(masks: Iterable[np.ndarray], num_classes: int, scales: list, patch: int,
                       ignore_index: int | None = None) -> Structures:
    """Widths, Dice ceilings at each of ``scales`` (factors, or :data:`~segtrain.data.rescale.FIT` for each
    image fitted into ``patch``, :data:`~segtrain.data.rescale.FILL` for each resized to it, :data:`HALF_FIT`
    and :data:`HALF_FILL` for half of it) and layout of the classes ``0 .. num_classes - 1`` in ``masks``
    (``(H, W)`` class maps)."""
    widths: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
    pixels = np.zeros(num_classes)
    confusion = {scale_key(s): np.zeros((3, num_classes))  # tp, fp, fn
                 for s in scales if s in _NAMED or s < 1}
    rows = np.zeros(num_classes)
    cols = np.zeros(num_classes)
    count = 0
    for labels in masks:
        count += 1
        valid = labels != ignore_index if ignore_index is not None else np.ones(labels.shape, bool)
        height, width = labels.shape
        r = (np.arange(height) + 0.5) / height
        c = (np.arange(width) + 0.5) / width
        for k in range(num_classes):
            region = labels == k
            n = int(region.sum())
            if not n:
                continue
            pixels[k] += n
            rows[k] += float((region.sum(axis=1) * r).sum())
            cols[k] += float((region.sum(axis=0) * c).sum())
            widths[k].append(_ridge_widths(region))
        values = np.unique(labels)
        for key, counts in confusion.items():
            back = _round_trip(labels, key if key in _NAMED else float(key), patch, values)
            for k in range(num_classes):
                truth, guess = (labels == k) & valid, (back == k) & valid
                counts[:, k] += [(truth & guess).sum(), (guess & ~truth).sum(), (truth & ~guess).sum()]
    total = pixels.sum() or 1.0
    classes = []
    for k in range(num_classes):
        w = np.concatenate(widths[k]) if widths[k] else np.zeros(0)
        thin = _weighted_quantile(w, w, THIN_SHARE) if w.size else None
        median = _weighted_quantile(w, w, 0.5) if w.size else None
        ceilings = {key: round(float(2 * tp / (2 * tp + fp + fn)), 4)
                    for key, (tp, fp, fn) in ((key, counts[:, k]) for key, counts in confusion.items()) if tp + fn > 0}
        ceilings[scale_key(1.0)] = 1.0
        classes.append(ClassStructure(round(float(pixels[k] / total), 5), thin, median, ceilings))
    present = pixels > 0
    vertical = float(np.max(np.abs(rows[present] / pixels[present] - 0.5))) if present.any() else 0.0
    horizontal = float(np.max(np.abs(cols[present] / pixels[present] - 0.5))) if present.any() else 0.0
    return Structures(count, classes, round(vertical, 3), round(horizontal, 3))


def evenly_spaced(items: list, count: int = MAX_MASKS) -> list:
    """At most ``count`` items spread evenly over ``items`` (all of them when there are fewer)."""
    if len(items) <= count:
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]
