"""The token bucket, driven by a fake clock: counts, never wall-clock durations."""

from __future__ import annotations

import asyncio

import pytest

from pinpipe.emulate.ratelimit import TokenBucket
from tests.emulate._support import FakeClock


def test_starts_full_then_paces_at_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)
    assert [bucket.reserve() for _ in range(5)] == [0, 0, 0, 0, 0]
    assert bucket.reserve() == pytest.approx(0.1)  # the 6th waits one token's time
    clock.now = 0.1
    assert bucket.reserve() == pytest.approx(0.1)  # the 6th's debt is repaid, the 7th waits its own token


def test_idle_time_saves_at_most_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100, capacity=3, clock=clock)
    clock.now = 3600.0  # an hour idle
    assert bucket.tokens == 3
    assert sum(bucket.reserve() == 0 for _ in range(10)) == 3


@pytest.mark.parametrize(("rate", "capacity"), [(1.0, 1.0), (250.0, 12.5), (10_000.0, 500.0)])
def test_count_bound_holds_at_every_release(rate: float, capacity: float) -> None:
    """Event i (from 1) is let through at a time t with i <= capacity + rate * t, and not much later."""
    clock = FakeClock()
    bucket = TokenBucket(rate=rate, capacity=capacity, clock=clock, sleep=clock.sleep)
    releases: list[float] = []

    async def run() -> None:
        for _ in range(2_000):
            await bucket.acquire()
            releases.append(clock.now)

    asyncio.run(run())
    for i, t in enumerate(releases, start=1):
        assert i <= capacity + rate * t + 1e-6
    # the bound is tight: the bucket never holds events back longer than the rate requires
    assert releases[-1] == pytest.approx(max(0.0, (len(releases) - capacity) / rate), rel=1e-9, abs=1e-9)


def test_default_capacity_is_a_short_burst() -> None:
    assert TokenBucket(rate=1000, clock=FakeClock()).capacity == 200
    assert TokenBucket(rate=2, clock=FakeClock()).capacity == 1


@pytest.mark.parametrize("rate", [0, -1])
def test_refuses_non_positive_rates(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=rate)
