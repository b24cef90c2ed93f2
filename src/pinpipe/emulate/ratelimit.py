"""Pacing events to a rate: a token bucket with an injectable clock.

A token bucket rather than a fixed sleep per event, because a load generator must keep its average
rate even when a slow request or a database read steals time: tokens accumulate (up to ``capacity``)
while the sender is busy and are spent at once afterwards. The guarantee callers (and tests) rely on
is a count bound, independent of how fast the machine is: by any time ``t`` after the start, at most
``capacity + rate * t`` events have been let through.

The clock and the sleep are parameters so tests drive the bucket with a fake clock and assert counts,
never wall-clock durations.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: Default burst: 200 ms worth of events (at least one). Enough to make up for the scheduling stalls of
#: a busy machine (20-110 ms measured on the shared 2-core box; with 50 ms, --rate 100 held only 85/s),
#: small enough to look smooth on a dashboard.
DEFAULT_BURST_SECONDS = 0.2


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved up; the bucket starts full.

    Reservations may drive the level below zero (a debt): the caller then waits until it is repaid.
    With one caller, as in the emulator's producer, that lets event ``i`` (counting from 1) through
    at the first time ``t`` where ``i <= capacity + rate * t``.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 events/s, got {rate!r} (use no bucket for 'as fast as possible')")
        self.rate = float(rate)
        self.capacity = float(capacity) if capacity is not None else max(1.0, self.rate * DEFAULT_BURST_SECONDS)
        if self.capacity < 1:
            raise ValueError(f"capacity must be >= 1 token, got {capacity!r}")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()

    @property
    def tokens(self) -> float:
        """The current level (negative while a reservation is being waited for)."""
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
            self._updated = now

    def reserve(self, tokens: float = 1.0) -> float:
        """Take ``tokens`` now and return how many seconds to wait before using them (0 = go)."""
        self._refill()
        self._tokens -= tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self, tokens: float = 1.0) -> None:
        """Wait until ``tokens`` may be spent."""
        wait = self.reserve(tokens)
        if wait > 0:
            await self._sleep(wait)
