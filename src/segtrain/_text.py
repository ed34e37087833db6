"""Wording shared by every layer: durations, counts with plurals, percentages. Plain Python."""

from __future__ import annotations


def format_seconds(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``1h02m``: a duration as the console and the report print it."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def plural(count: int, noun: str) -> str:
    """``1 image``, ``3 images``: a count with its noun, plural by an ``s``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def percent(share: float) -> str:
    """A share in 0..1 as a percentage with one decimal; a share too small to show is ``<0.1%``."""
    return "<0.1%" if 0 < share < 0.0005 else f"{100 * share:.1f}%"
