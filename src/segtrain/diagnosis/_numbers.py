"""Small numeric helpers shared by the detectors: finite values, robust statistics, formatting."""

from __future__ import annotations

import math
import statistics
from typing import Any, Iterable, Sequence


def is_finite(x: Any) -> bool:
    """Whether ``x`` is a finite int or float (``None``, strings and ``nan`` are not)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def finite(values: Iterable[Any]) -> list[float]:
    """The finite numbers among ``values``, in order."""
    return [float(v) for v in values if is_finite(v)]


def median(values: Iterable[Any]) -> float:
    """Median of the finite ``values``; ``nan`` when there are none."""
    values = finite(values)
    return statistics.median(values) if values else math.nan


def mean(values: Iterable[Any]) -> float:
    """Mean of the finite ``values``; ``nan`` when there are none."""
    values = finite(values)
    return statistics.fmean(values) if values else math.nan


def rolling_median(values: Sequence[float], window: int) -> list[float]:
    """The median of each value and up to ``window - 1`` finite values before it (``nan`` if none)."""
    out = []
    for i in range(len(values)):
        out.append(median(values[max(0, i - window + 1) : i + 1]))
    return out


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ``ys`` over ``xs`` (pairs with a non-finite value dropped); 0 if undefined."""
    pairs = [(x, y) for x, y in zip(xs, ys) if is_finite(x) and is_finite(y)]
    if len(pairs) < 2:
        return 0.0
    mx = statistics.fmean(p[0] for p in pairs)
    my = statistics.fmean(p[1] for p in pairs)
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    return sum((x - mx) * (y - my) for x, y in pairs) / sxx if sxx else 0.0


def num(x: Any, digits: int = 2) -> str:
    """A short human form of a number with ``digits`` significant digits.

    ``0.2134 -> "0.21"``, ``0.0005 -> "5e-4"``, ``1.6e8 -> "1.6e8"``, ``12.0 -> "12"``,
    ``nan -> "nan"``, ``None -> "?"``.
    """
    if x is None:
        return "?"
    if isinstance(x, str):
        return x
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1e4 or a < 1e-3:
        mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    decimals = max(digits - 1 - math.floor(math.log10(a)), 0)
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def pct(share: float) -> str:
    """A share in [0, 1] as a percentage: ``0.724 -> "72%"``, ``0.004 -> "0.4%"``."""
    if not is_finite(share):
        return "?%"
    value = 100 * share
    return f"{value:.0f}%" if abs(value) >= 10 or value == 0 else f"{num(value, 1)}%"


def safe(x: Any) -> Any:
    """``x`` made strict-JSON safe: non-finite floats become ``"nan"``, ``"inf"``, ``"-inf"``."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {str(k): safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [safe(v) for v in x]
    return x


def rounded(x: Any, digits: int = 4) -> Any:
    """``x`` rounded to ``digits`` significant digits for evidence (non-finite as :func:`safe`)."""
    if is_finite(x) and x != 0:
        return float(f"{float(x):.{digits}g}")
    return safe(x)
