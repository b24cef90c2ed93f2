"""The nearest-rank rule the emulators' request latencies and the stream job's record ages share."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from pinpipe.percentile import nearest_rank


def test_nothing_observed_is_none() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([], 50, []) is None
    assert nearest_rank([1.0, 2.0], 50, [0, 0]) is None


def test_nearest_rank_picks_an_observed_value() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100: the p-th percentile is p
    for p in (1, 25, 50, 99, 100):
        assert nearest_rank(values, p) == p
    assert nearest_rank([10.0, 20.0, 30.0, 40.0], 50) == 20.0  # rank ceil(4 * 0.5) = 2: never interpolated
    assert nearest_rank([10.0, 20.0, 30.0, 40.0], 51) == 30.0
    assert nearest_rank([10.0, 20.0], 0) == 10.0  # rank at least 1
    assert nearest_rank([10.0, 20.0], 150) == 20.0  # beyond the last: the largest


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_give_what_the_expanded_values_give(seed: int) -> None:
    """A histogram's bins answer as the samples they count would, without expanding them."""
    rng = random.Random(seed)
    samples = sorted(rng.randrange(0, 300) for _ in range(rng.randrange(1, 5_000)))
    bins = Counter(samples)
    ages = sorted(bins)
    for p in (0, 1, 50, 90, 99, 99.9, 100):
        expected = samples[max(1, math.ceil(len(samples) * p / 100)) - 1]
        assert nearest_rank([float(v) for v in samples], p) == expected
        assert nearest_rank(ages, p, [bins[a] for a in ages]) == expected
