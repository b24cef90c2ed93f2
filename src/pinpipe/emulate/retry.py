"""When to send a request again, and how long to wait first.

Exponential backoff with full jitter (a random wait in ``[0, min(cap, base * 2**n))``), so that many
emulators hitting a gateway that just came back do not retry in lock step; a ``Retry-After`` from the
gateway (429/503 backpressure) is honoured as a floor. Attempts are bounded: a gateway that stays down
fails the records instead of hanging the run.

Delivery is at-least-once. A request that failed before it was sent (connection refused) is plainly
safe to repeat. A request whose connection dropped after it was sent has an unknown outcome: the gateway
may have written it and lost only the answer. It is sent again, so the log can then hold those records
twice; that is why every downstream job deduplicates on ``ind``. Records the gateway acknowledged are
never sent again.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field

#: Statuses that mean "try again later": overload, gateway/log trouble, request timeout.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

#: Statuses after which the rest of the run cannot succeed either (bad key, wrong URL or prefix).
FATAL_STATUSES = frozenset({401, 403, 404})


@dataclass
class RetryPolicy:
    """``attempts`` tries in all per request (1 = never retry); waits grow from ``base_s`` up to ``cap_s``.

    The defaults ride out a gateway restart of several seconds (about 20 s of waiting in all).
    """

    attempts: int = 10
    base_s: float = 0.1
    cap_s: float = 5.0
    max_retry_after_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed attempt (1-based)."""
        ceiling = min(self.cap_s, self.base_s * (2 ** (failures - 1)))
        wait = self.rng.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after_s))
        return wait


def retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
