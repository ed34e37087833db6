"""Loss specifications such as ``dice+ce`` or ``dice:1,focal:0.5`` (plain Python: no torch needed)."""

from __future__ import annotations

import math
import re

LOSS_NAMES = ("ce", "dice", "jaccard", "tversky", "focal", "lovasz", "boundary")
"""Term names, in the order :meth:`CompositeLoss.describe` lists their parameters."""

ALIASES = {"bce": "ce", "iou": "jaccard", "focal_tversky": "tversky"}
"""Other accepted spellings and the term each one means."""

_VALID = f"valid names: {', '.join(LOSS_NAMES)} (aliases: {', '.join(f'{a}={n}' for a, n in ALIASES.items())})"


def parse_loss_spec(spec: str) -> list[tuple[str, float]]:
    """Terms and weights from a loss specification.

    ``'dice+ce'`` gives ``[('dice', 1.0), ('ce', 1.0)]``; ``'dice:1,focal:0.5'`` gives
    ``[('dice', 1.0), ('focal', 0.5)]``. ``+`` and ``,`` both separate terms, ``name:weight``
    sets a weight (default 1), spaces are ignored and names are case-insensitive; aliases
    (:data:`ALIASES`) are replaced by their term.

    Raises
    ------
    ValueError
        With one line naming the bad part and listing the valid names: an empty spec or term,
        an unknown name, a weight that is not a finite positive number, or a term given twice.
    """
    text = re.sub(r"\s+", "", str(spec)).lower()
    if not text:
        raise ValueError(f"empty loss spec {spec!r}; give terms such as 'dice+ce' or 'dice:1,focal:0.5'; {_VALID}")
    terms: list[tuple[str, float]] = []
    for part in re.split(r"[+,]", text):
        if not part:
            raise ValueError(f"empty term in loss spec {spec!r} (two separators in a row, or one at an end); {_VALID}")
        name, sep, weight_text = part.partition(":")
        canonical = ALIASES.get(name, name)
        if canonical not in LOSS_NAMES:
            raise ValueError(f"unknown loss {name!r} in loss spec {spec!r}; {_VALID}")
        weight = 1.0
        if sep:
            try:
                weight = float(weight_text)
            except ValueError:
                weight = math.nan
            if not (math.isfinite(weight) and weight > 0):
                raise ValueError(f"bad weight {weight_text!r} for {name!r} in loss spec {spec!r}: "
                                 f"use a positive number, e.g. '{name}:0.5'; {_VALID}")
        if any(canonical == seen for seen, _ in terms):
            raise ValueError(f"loss {canonical!r} appears twice in loss spec {spec!r}; give each term once; {_VALID}")
        terms.append((canonical, weight))
    return terms
