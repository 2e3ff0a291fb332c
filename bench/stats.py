"""Small statistics over samples."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in [0, 100]; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def gaps(times: Sequence[float]) -> list[float]:
    """Inter-arrival gaps of one stream's pieces (pieces read together have gap 0)."""
    return [b - a for a, b in zip(times, times[1:], strict=False)]
