"""Augmentation chosen from the data: which flips, rotations, zoom, gamma, blur and noise to use.

Each switch of :class:`~segtrain.config.schema.AugmentConfig` left at ``None`` is planned by a
stated rule from the fingerprint and the class layout of the training masks; a value the user set
wins, then a value from a saved plan. The layout is ``{"vertical_offset", "horizontal_offset",
"thinnest_px"}``: the largest ``|mean normalised row (column) of a class's pixels - 0.5|`` over the
classes (0: every class spread evenly; about 0.3 for a sky at the top) and the width in pixels, at
the training scale, of the thinnest important structure (``None``: not measured).
"""

from __future__ import annotations

from typing import Any

from segtrain.config.schema import AugmentConfig

PLANNED = ("hflip", "vflip", "rot90", "rotate", "scale_jitter", "gamma", "blur", "noise")
"""The switches of ``AugmentConfig`` that are planned when left at ``None``, in the order applied."""

FREE_OFFSET = 0.08
"""Below this offset along an axis no class prefers a position along it (cells, tissue, textures
seen from above): mirroring along that axis makes images like the real ones."""
SIDE_OFFSET = 0.15
"""A class whose pixels sit on average this far off the vertical centre line prefers one side
(e.g. an organ on the left): left-right mirroring would show it where it never is. Laxer than
``FREE_OFFSET`` since the world seen by a camera is close to mirror-symmetric left to right."""
SMALL_ROTATION = 10.0
"""Largest rotation in degrees for oriented scenes: a camera tilt, keeping 'up' up."""
ANY_ROTATION = 180.0
"""Largest rotation for orientation-free data (microscopy, aerial): every angle is as likely."""
SCALE_JITTER = 0.15
"""Zoom strength: factors from 1/1.15 to 1.15, the spread of object sizes between acquisitions."""
THIN_FOR_SCALE_PX = 4.0
"""Structures thinner than this (pixels) lose whole pixels when shrunk by 1/1.15 with
nearest-neighbour labels, so the zoom is off for them."""
GAMMA_GRAY = 0.3
"""Gamma strength for gray images (exponents 1/1.3 to 1.3): exposure and contrast differ between
microscopes, scanners and settings, and intensity is the only cue there."""
GAMMA_COLOUR = 0.15
"""Smaller gamma for colour images: camera images are already gamma-encoded and auto-exposed, and
one exponent over channels rescaled separately also shifts the colour balance, which carries
class meaning (blue sky, green vegetation)."""
BLUR = 0.2
"""Share of patches blurred (sigma 0.5 to 1 pixel): focus and optics vary between acquisitions."""
THIN_FOR_BLUR_PX = 3.0
"""Structures thinner than this (pixels) are smeared into their background by such a blur, so it is off."""
NOISE = 0.1
"""Largest noise standard deviation on unit-variance intensities: sensor noise, mild."""

_CONSERVATIVE = "class layout not measured: conservative"


def plan_augmentation(
    config_augment: AugmentConfig,
    fingerprint: Any,
    layout: dict | None,
    given_items: dict | None = None,
) -> tuple[dict, str]:
    """The value of every planned augmentation switch and one reason listing the rule for each.

    Parameters
    ----------
    config_augment : AugmentConfig
        The configured switches; a field that is not ``None`` is the user's and is kept.
    fingerprint : Fingerprint, dict or None
        The training images' fingerprint (only ``channels`` is read: colour gets a smaller gamma).
    layout : dict or None
        ``vertical_offset``, ``horizontal_offset`` (in [0, 0.5]) and ``thinnest_px`` (or ``None``)
        of the training masks; ``None`` when not measured: hflip and small rotations only.
    given_items : dict, optional
        Values from a saved plan by switch name (plain values or items with ``.value``); used for
        switches the user left at ``None``.

    Returns
    -------
    chosen : dict
        Switch name -> value, for every name in :data:`PLANNED`.
    reason : str
        ``"; "``-joined clauses, one per switch, each naming its rule or source.
    """
    planned = _planned(fingerprint, layout)
    given = given_items or {}
    chosen, clauses = {}, []
    for name in PLANNED:
        user = getattr(config_augment, name)
        saved = _saved(given, name)
        if user is not None:
            value, why = user, "given by the user"
        elif saved is not None:
            value, why = saved, "from the plan file"
        else:
            value, why = planned[name]
        chosen[name] = value
        clauses.append(f"{name} {_show(value)}: {why}")
    return chosen, "; ".join(clauses)


def apply_augmentation(augment: AugmentConfig, chosen: dict) -> AugmentConfig:
    """``augment`` with its ``None`` fields filled from ``chosen`` (set fields are kept)."""
    return augment.filled(chosen)


def _planned(fingerprint: Any, layout: dict | None) -> dict[str, tuple[Any, str]]:
    """The rule's value and reason for every switch."""
    out: dict[str, tuple[Any, str]] = {}
    layout = layout or {}
    thinnest = layout.get("thinnest_px")
    if layout.get("vertical_offset") is None or layout.get("horizontal_offset") is None:
        out["hflip"] = (True, f"{_CONSERVATIVE}, left-right mirroring is safe for most scenes")
        out["vflip"] = (False, f"{_CONSERVATIVE}, 'up' may carry meaning (sky, road)")
        out["rot90"] = (False, f"{_CONSERVATIVE}, 'up' may carry meaning")
        out["rotate"] = (SMALL_ROTATION, f"{_CONSERVATIVE}, a camera tilt of up to {SMALL_ROTATION:g} degrees")
    else:
        vertical, horizontal = float(layout["vertical_offset"]), float(layout["horizontal_offset"])
        v_text, h_text = f"vertical offset {vertical:.2f}", f"horizontal offset {horizontal:.2f}"
        if horizontal < SIDE_OFFSET:
            out["hflip"] = (True, f"no class prefers a side ({h_text} < {SIDE_OFFSET})")
        else:
            out["hflip"] = (False, f"a class prefers one side ({h_text} >= {SIDE_OFFSET})")
        if vertical < FREE_OFFSET:
            out["vflip"] = (True, f"no class prefers the top or bottom ({v_text} < {FREE_OFFSET})")
        else:
            out["vflip"] = (False, f"a class prefers the top or bottom, like a sky or road ({v_text} >= {FREE_OFFSET})")
        if vertical < FREE_OFFSET and horizontal < FREE_OFFSET:
            free = f"orientation-free ({v_text} and {h_text} < {FREE_OFFSET})"
            out["rot90"] = (True, free)
            out["rotate"] = (ANY_ROTATION, f"{free}: any angle")
        else:
            oriented = f"oriented ({v_text}, {h_text}; not both < {FREE_OFFSET})"
            out["rot90"] = (False, oriented)
            out["rotate"] = (SMALL_ROTATION, f"{oriented}: a camera tilt of up to {SMALL_ROTATION:g} degrees")
    if thinnest is not None and float(thinnest) < THIN_FOR_SCALE_PX:
        why = f"thinnest structure {float(thinnest):.3g} px < {THIN_FOR_SCALE_PX:g} px: shrinking would erase it"
        out["scale_jitter"] = (0.0, why)
    else:
        known = "not measured" if thinnest is None else f"{float(thinnest):.3g} px >= {THIN_FOR_SCALE_PX:g} px"
        out["scale_jitter"] = (SCALE_JITTER, f"object sizes vary between acquisitions (thinnest structure {known})")
    channels = _channels(fingerprint)
    if channels >= 3:
        why = f"{channels} channels: mild, camera images are gamma-encoded and a strong change shifts colours"
        out["gamma"] = (GAMMA_COLOUR, why)
    else:
        out["gamma"] = (GAMMA_GRAY, "gray images: exposure and contrast vary between acquisitions")
    if thinnest is not None and float(thinnest) < THIN_FOR_BLUR_PX:
        why = f"thinnest structure {float(thinnest):.3g} px < {THIN_FOR_BLUR_PX:g} px: a blur would smear it away"
        out["blur"] = (0.0, why)
    else:
        out["blur"] = (BLUR, "focus varies between acquisitions: a mild blur on a share of patches")
    out["noise"] = (NOISE, "sensor noise varies: mild additive noise")
    return out


def _channels(fingerprint: Any) -> int:
    if isinstance(fingerprint, dict):
        return int(fingerprint.get("channels") or 0)
    return int(getattr(fingerprint, "channels", 0) or 0)


def _saved(given: dict, name: str) -> Any:
    """A saved plan's value of switch ``name`` (as ``name`` or ``augment.name``), or ``None``."""
    item = given.get(name, given.get(f"augment.{name}"))
    return getattr(item, "value", item)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)
