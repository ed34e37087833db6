"""The input scale and the context regime: how much of an image one patch sees, and at what resolution.

A network trained on native-resolution crops of a large image sees a small share of it: right
where the classes are thin (membranes, vessels: shrinking the image erases them), wrong where the
answer depends on context (sky or water? the crop shows a patch of blue). The scale is chosen
from the training masks (:mod:`segtrain.data.structures`): the smallest input scale, so the
most context per patch, whose *Dice ceiling* (what a perfect prediction at that scale still
reaches once resized back to full resolution) costs every important class at most
:data:`MAX_CEILING_LOSS`.

Candidates, from the most context down: each image resized to fill the square patch ("fill",
when the images are not square and at most :data:`MAX_STRETCH` times longer than wide: the patch's
every pixel then carries image, where a fitted image leaves the rest as padding), the scale at
which a median image fits the patch whole ("fit", when sizes vary; else that factor), then factors
of 1/sqrt(2) from 1 down to it. A fixed factor keeps a pixel's physical size (microscopy, fixed
cameras); "fit" and "fill" compare scenes taken at different resolutions.

The network's first level (:func:`choose_stem`) follows the same rule one octave lower: it works at
half the planned resolution when the Dice ceiling there still passes.
"""

from __future__ import annotations

import math
import statistics

from segtrain.data.rescale import FILL, FIT, input_size
from segtrain.data.structures import HALF_FILL, HALF_FIT, Structures, half_of, scale_key

MAX_CEILING_LOSS = 0.01
"""Largest loss of Dice ceiling accepted for any important class: a hundredth is below the spread of
validation Dice between two seeds of one run, while the context a smaller scale buys has been worth
several hundredths where the answer depends on it (issue 15's table: 0.07 to 0.21 Dice)."""
IMPORTANT_SHARE = 0.005
"""Classes under half a percent of the pixels do not veto a scale (their ceilings are still printed)."""
LADDER = 2 ** -0.5
"""Step between candidate factors: each halves the pixels of the one before."""
MAX_STRETCH = 2.0
"""Largest change of aspect ratio of a filled image (:data:`~segtrain.data.rescale.FILL`): a 4:3 photo
stretched to a square gains a third more rows than a fitted one at the same cost per step (the fitted
image's padding is computed and thrown away); beyond 2:1 the shapes change more than the scale jitter
the planner applies."""
MIN_SCALE = 1 / 16
"""No candidate below this: a 16-fold reduction leaves too little of any image."""


def candidates(train_sizes: list[tuple[int, int]], patch: int) -> tuple[float, list[float]]:
    """``(whole, factors)``: the factor at which a median training image fits ``patch`` whole, and the
    candidate factors from 1 down to it (``whole`` last)."""
    long = statistics.median(max(h, w) for h, w in train_sizes)
    whole = max(MIN_SCALE, min(1.0, patch / long))
    factors = [1.0]
    while factors[-1] * LADDER > whole * 1.02:
        factors.append(round(factors[-1] * LADDER, 4))
    if whole < 1.0:
        factors.append(round(whole, 4))
    return whole, factors


def _worst(structures: Structures, key: str) -> tuple[float, int] | None:
    """The lowest ceiling of an important class at ``key`` and that class, or None if unmeasured."""
    worst = None
    for k, c in enumerate(structures.classes):
        value = c.ceilings.get(key)
        if c.share >= IMPORTANT_SHARE and value is not None and (worst is None or value < worst[0]):
            worst = (value, k)
    return worst


def choose_scale(structures: Structures | None, train_sizes: list[tuple[int, int]], patch: int,
                 class_name=lambda k: f"class {k}") -> tuple[object, str]:
    """The planned scale (a factor or ``"fit"``) and its reason."""
    whole, factors = candidates(train_sizes, patch)
    if whole >= 1.0:
        return 1.0, f"the training images fit the {patch}-pixel patch at their own resolution"
    if structures is None or not structures.classes:
        return 1.0, "structure sizes not measured: native resolution"
    varied = len(set(train_sizes)) > 1
    stretch = _stretch(train_sizes)
    keys = (([FILL] if 1.01 < stretch <= MAX_STRETCH else []) + ([FIT] if varied else [])
            + [scale_key(f) for f in reversed(factors)])
    tried = []
    for key in keys:
        worst = _worst(structures, key)
        if worst is None:
            continue
        value, k = worst
        tried.append(f"{key}: {value:.4f} ({class_name(k)})")
        if value >= 1 - MAX_CEILING_LOSS:
            chosen = key if key in (FIT, FILL) else float(key)
            what = {FIT: "each image resized so its long side fills the patch",
                    FILL: f"each image resized to fill the patch (a median image's aspect ratio changes {stretch:.2f}x, "
                          "undone when the logits are resized back)"}.get(chosen, f"scale {key}")
            return chosen, (f"{what}: the most context per patch whose Dice ceiling (a perfect prediction at that "
                            f"scale, resized back) loses at most {MAX_CEILING_LOSS:.0%} on every class over "
                            f"{IMPORTANT_SHARE:.1%} of the pixels; lowest ceiling by scale: " + ", ".join(tried))
    return 1.0, ("native resolution: every smaller scale would cost a class more than "
                 f"{MAX_CEILING_LOSS:.0%} of Dice ceiling (" + ", ".join(tried) + ")")


def choose_stem(structures: Structures | None, scale, class_name=lambda k: f"class {k}") -> tuple[str, str]:
    """``("strided" | "full", reason)``: the network's first level works at half the planned resolution when
    that costs no important class more than :data:`MAX_CEILING_LOSS` of Dice ceiling (the rule of the scale)."""
    full = "the first level of the network convolves at the planned input resolution"
    if structures is None or not structures.classes:
        return "full", f"{full}: structure sizes not measured"
    worst = _worst(structures, scale_key(half_of(scale)))
    if worst is None:
        return "full", f"{full}: no ceiling measured at half the planned scale"
    value, k = worst
    at_half = f"at half the planned scale the lowest Dice ceiling is {value:.4f} ({class_name(k)})"
    if value >= 1 - MAX_CEILING_LOSS:
        return "strided", (f"the first convolution has stride 2 and a transposed convolution restores the resolution: "
                           f"{at_half}, within {MAX_CEILING_LOSS:.0%}, and a step costs about a third of a full-"
                           "resolution first level's")
    return "full", f"{full}: {at_half}, more than {MAX_CEILING_LOSS:.0%} below a perfect score"


def _stretch(train_sizes: list[tuple[int, int]]) -> float:
    """The median aspect ratio (long side over short side) of the training images."""
    return statistics.median(max(h, w) / max(1, min(h, w)) for h, w in train_sizes)


def regime(train_sizes: list[tuple[int, int]], scale, patch: int) -> tuple[str, str]:
    """``("whole image" | "crops", reason)`` for a median training image at ``scale``."""
    h = statistics.median(h for h, _ in train_sizes)
    w = statistics.median(w for _, w in train_sizes)
    sh, sw = input_size(int(h), int(w), scale, patch)
    if scale == FILL:
        return "whole image", (f"a median image ({int(h)}x{int(w)}) is resized to fill the {patch}x{patch} patch: "
                               "each step sees whole scenes")
    if max(sh, sw) <= patch:
        return "whole image", (f"a median image ({int(h)}x{int(w)}) is {sh}x{sw} at this scale and fits the "
                               f"{patch}x{patch} patch whole (padded): each step sees whole scenes")
    share = min(1.0, patch * patch / (sh * sw))
    return "crops", (f"a median image is {sh}x{sw} at this scale: one {patch}x{patch} patch sees "
                     f"{share:.0%} of it ({math.ceil(sh / patch) * math.ceil(sw / patch)} tiles cover it)")


def plan_resolution(p, config, measure, train_sizes: list[tuple[int, int]], cap: int, multiple: int,
                    windowed: bool = False):
    """Choose ``scale`` and ``patch_size`` (in that order) through the planner ``p``; returns both.

    ``measure(scales, patch) -> Structures`` reads the training masks (None: nothing measured);
    ``windowed``: some training images are too large for memory and are read by windows, at
    their own resolution.
    """
    patch_for_scale = config.train.patch_size or cap
    structures = None

    def planned():
        nonlocal structures
        if windowed:
            return 1.0, "some training images are too large for memory: they are read by windows at their own resolution"
        whole, factors = candidates(train_sizes, patch_for_scale)
        if whole < 1.0 and measure is not None:  # each candidate and half of it (for the stem)
            halves = [f / 2 for f in factors]
            structures = measure([FILL, HALF_FILL, FIT, HALF_FIT, *factors, *halves], patch_for_scale)
        return choose_scale(structures, train_sizes, patch_for_scale, p.class_name)

    scale = p.choose("scale", config.train.scale, planned)
    if structures is not None:
        p.plan.set("structures", _summary(structures, p.class_name, scale),
                   f"measured on {structures.masks} training masks: per class its share of the pixels, the width "
                   "of its thinnest tenth (px at full resolution) and its Dice ceiling at the chosen scale")
    p.choose("stem", config.model.stem, lambda: choose_stem(structures, scale, p.class_name))
    scaled = [input_size(h, w, scale, patch_for_scale) for h, w in train_sizes]
    patch = p.choose("patch_size", config.train.patch_size, lambda: _planned_patch(scaled, cap, multiple))
    return scale, patch, structures


def _planned_patch(scaled: list[tuple[int, int]], cap: int, multiple: int) -> tuple[int, str]:
    """The whole (scaled) median image when it fits the device's cap, else its short side, capped."""
    long = int(statistics.median(max(h, w) for h, w in scaled))
    short = int(statistics.median(min(h, w) for h, w in scaled))
    if long <= cap:
        patch = max(multiple, math.ceil(long / multiple) * multiple)
        return patch, (f"the long side of a median training image at the planned scale ({long} px) rounded up to a "
                       f"multiple of 2**depth = {multiple}: whole images (padded where smaller)")
    return max(multiple, min(cap, short) // multiple * multiple), (
        f"the median short side of the training images at the planned scale ({short} px), capped at {cap} on this "
        f"device, rounded down to a multiple of 2**depth = {multiple}; smaller images are mirror-padded")


def _summary(structures: Structures, class_name, scale) -> dict:
    return {class_name(k): {"share": round(c.share, 4), "thin_px": None if c.thin_px is None else round(c.thin_px, 1),
                            "ceiling": c.ceilings.get(scale_key(scale))}
            for k, c in enumerate(structures.classes)}


def layout_of(structures: Structures | None, scale, train_sizes, patch: int) -> dict | None:
    """What augmentation planning reads: class offsets from the centre and the thinnest important
    width at the training scale (px)."""
    if structures is None:
        return None
    h = statistics.median(h for h, _ in train_sizes)
    w = statistics.median(w for _, w in train_sizes)
    factor = input_size(int(h), int(w), scale, patch)[0] / h
    widths = [c.thin_px for c in structures.classes if c.share >= IMPORTANT_SHARE and c.thin_px is not None]
    return {"vertical_offset": structures.vertical_offset, "horizontal_offset": structures.horizontal_offset,
            "thinnest_px": round(min(widths) * factor, 2) if widths else None}
