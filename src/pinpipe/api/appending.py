"""Appending from the event loop without blocking it.

``EventLog.append`` blocks until the records are durable. A backend whose capabilities say it offers
``submit(topic, records) -> concurrent.futures.Future`` (the embedded log) is awaited directly on the
loop; any other backend's ``append`` runs in the threadpool. Either way, concurrent requests reach
the log at the same time, which is what lets group commit share one fsync between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool

from pinpipe.log.base import Appended, EventLog, OutRecord, can_submit


async def append(log: EventLog, topic: str, records: Sequence[OutRecord]) -> list[Appended]:
    if can_submit(log):
        return await asyncio.wrap_future(log.submit(topic, records))
    return await run_in_threadpool(log.append, topic, records)
