"""Appending from the event loop without blocking it.

``EventLog.append`` blocks until the records are durable. A backend whose capabilities say it offers
``submit(topic, records) -> concurrent.futures.Future`` (the embedded log) is awaited directly on the
loop; any other backend's ``append`` runs in the threadpool. Either way, concurrent requests reach
the log at the same time, which is what lets group commit share one fsync between them.

A log without atomic appends (Kinesis) may take only some records of a request; :func:`append_each`
then gives each record's outcome, which the routes answer per record (200 with ``FailedRecordCount``
or per-offset ``error_code``), so a client sends again only what is not in the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool

from pinpipe.log.base import Appended, EventLog, OutRecord, PartlyAppendedError, RecordRefused, can_submit

logger = logging.getLogger("pinpipe.api")


async def append(log: EventLog, topic: str, records: Sequence[OutRecord]) -> list[Appended]:
    if can_submit(log):
        return await asyncio.wrap_future(log.submit(topic, records))
    return await run_in_threadpool(log.append, topic, records)


async def append_each(log: EventLog, topic: str, records: Sequence[OutRecord]) -> list[Appended | RecordRefused]:
    """Like :func:`append`, but a partly written request gives one outcome per record instead of failing."""
    try:
        return list(await append(log, topic, records))
    except PartlyAppendedError as partial:
        logger.warning("%s (answered per record)", partial.message)
        return partial.outcomes
