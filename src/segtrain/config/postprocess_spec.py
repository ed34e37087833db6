"""Post-processing steps such as ``fill_holes@1`` or ``remove_small:0.001@2`` (plain Python).

The steps themselves run in :mod:`segtrain.inference.postprocess`; this is their grammar, so a
config file is checked without loading scipy.
"""

from __future__ import annotations

import re

OPERATIONS = ("fill_holes", "largest_component", "remove_small")
_STEP = re.compile(r"^(fill_holes|largest_component|remove_small:(0?\.\d+|\d+(?:\.\d+)?e-\d+))@([1-9]\d*)$")


def parse_step(step: str) -> tuple[str, float | None, int]:
    """``(operation, parameter, class)`` of a step; ``ValueError`` naming the grammar otherwise."""
    match = _STEP.match(step)
    if match is None:
        raise ValueError(f"{step!r} is not a post-processing step; write fill_holes@K, largest_component@K "
                         "or remove_small:F@K (K a class index from 1, F a share of the image below 1)")
    name, _, klass = match.groups()
    operation, _, parameter = name.partition(":")
    share = float(parameter) if parameter else None
    if share is not None and not 0 < share < 1:
        raise ValueError(f"{step!r}: the share F of remove_small:F@K must be between 0 and 1")
    return operation, share, int(klass)
