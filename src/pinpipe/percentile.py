"""Nearest-rank percentiles: one rule for the emulators' request latencies and the stream job's record ages.

The nearest-rank method returns a value that was observed (never an interpolation), so a p99 reported
by ``pinpipe emulate`` and one reported by ``pinpipe stream run`` mean the same thing. Both callers
keep their own store (a reservoir of samples, a 1-ms histogram); they share this rule.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate


def nearest_rank(ordered: Sequence[float], p: float, counts: Sequence[int] | None = None) -> float | None:
    """The ``p``-th percentile (0-100) of ``ordered`` (ascending), or None with nothing observed.

    ``counts``, when given, says how many times each value was observed (a histogram's bins), so the
    values need not be expanded. The rank is ``ceil(n * p / 100)``, at least 1; beyond the last value
    (``p`` above 100) the answer is the largest value.
    """
    if counts is None:
        if not ordered:
            return None
        rank = max(1, math.ceil(len(ordered) * p / 100.0))
        return ordered[min(rank, len(ordered)) - 1]
    cumulative = list(accumulate(counts))
    if not cumulative or cumulative[-1] == 0:
        return None
    rank = max(1, math.ceil(cumulative[-1] * p / 100.0))
    return ordered[min(bisect_left(cumulative, rank), len(ordered) - 1)]
