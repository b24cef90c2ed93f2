"""The gateway's in-flight budget: how many request-body bytes may be read but not yet answered.

A log that stalls (a slow fsync, a broker election) keeps answering nothing while requests keep
arriving; without a bound each one is read, parsed and held until the log moves again, so memory grows
with the length of the stall. With :class:`InFlightBudget` a produce request that would take the bytes
in flight over ``PINPIPE_API_IN_FLIGHT_BYTES`` gets 429 with ``Retry-After`` before its body is read:
nothing of it is written, and every emulator and AWS/Kafka-REST client treats 429 as "send it again".

A request is admitted when nothing else is in flight, whatever its size (the body limit bounds it), so a
budget smaller than one body never refuses a lone client. All routes run on the event loop's thread, so
the count needs no lock; each worker process of ``pinpipe api --workers N`` has its own budget.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from fastapi import Request

from pinpipe.api.errors import ApiError

#: Seconds a refused client is told to wait (Retry-After is whole seconds; 1 is its floor).
RETRY_AFTER_S = 1.0


class InFlightBudget:
    """Bytes of produce bodies admitted and not yet answered, against ``limit`` (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.refused = 0  # requests this budget answered 429 (/metrics counts them among all 429 answers)

    @contextlib.contextmanager
    def hold(self, request: Request) -> Iterator[None]:
        """Admit ``request`` for its declared ``Content-Length`` until the block ends, or raise the 429.

        A body sent without ``Content-Length`` (chunked) is admitted on what is in flight alone; its
        size is still capped by the body limit.
        """
        size = declared_size(request)
        if self.limit and self.used and self.used + size > self.limit:
            self.refused += 1
            raise ApiError(
                429,
                f"gateway busy: {self.used} bytes of requests in flight, over its "
                f"{self.limit}-byte budget (PINPIPE_API_IN_FLIGHT_BYTES); nothing was written, send it again",
                retry_after=RETRY_AFTER_S,
            )
        self.used += size
        try:
            yield
        finally:
            self.used -= size


def declared_size(request: Request) -> int:
    """The body size the client declared; 0 when absent or unreadable (``read_body`` refuses the latter)."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return 0
    return int(declared)
