"""What the paired benchmarks share: the spread they report beside each median ratio."""

from __future__ import annotations

import statistics


def quartiles(values: list[float]) -> tuple[float, float]:
    """The interquartile range of `values` (the lowest and highest when there are too few
    rounds for quartiles to mean anything)."""
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]
