"""Whether each event log of the gateway answers, as the gateway last found out.

A log that is down must not make the gateway slow or silent: a Kafka client waits out its metadata
timeout (10 s) on every call to a broker that is gone. So one watcher task per log probes it — at
start-up (creating the pinpipe topics or streams), and again whenever a request found it unavailable,
then every :data:`PROBE_S` until it answers. While its last probe failed, the routes of that log answer
503 with ``Retry-After`` at once and ``/health`` says why, without waiting on the backend. The state
only ever refuses: a record is acknowledged on the log's own append, never on this state's word.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool

from pinpipe.errors import BackendUnavailableError, RetryableError
from pinpipe.log import ensure_topics
from pinpipe.log.base import EventLog

logger = logging.getLogger("pinpipe.api")

#: Seconds between probes of a log that is down (each probe may itself wait out a client timeout).
PROBE_S = 1.0
#: How long start-up waits for the first probe before listening anyway (an embedded log answers in
#: milliseconds, so its topics exist before the first request; a remote one that is down cannot delay it).
START_WAIT_S = 1.0


class LogDownError(BackendUnavailableError):
    """A request refused because its log's last probe failed (logged once by the watch, not per request)."""


class LogWatch:
    """The availability of one event log, kept by :meth:`run` (one asyncio task per log)."""

    def __init__(self, log: EventLog, names: Sequence[str], partitions: int) -> None:
        self.log = log
        self.names = list(names)  # the topics or streams start-up creates when missing
        self.partitions = partitions
        self.error: str | None = None  # why the last probe failed; None while the log answers
        self.ensured = False
        self.mistake: Exception | None = None  # what the last probe failed on when it was not an outage
        self._wake = asyncio.Event()

    def refusal(self) -> LogDownError | None:
        """The error a request to this log gets now, or None when it may go to the log."""
        if self.error is None:
            return None
        return LogDownError(f"{self.error} (the gateway is up; its event log is not)", retry_after=PROBE_S)

    def suspect(self) -> None:
        """A request found the log unavailable: probe it now."""
        self._wake.set()

    async def probe(self) -> bool:
        """One look at the log: creates the topics until that has worked once, then lists them."""
        try:
            if self.ensured:
                await run_in_threadpool(self.log.topics)
            else:
                await run_in_threadpool(ensure_topics, self.log, self.names, self.partitions)
                self.ensured = True
        except RetryableError as exc:
            if self.error is None:
                logger.warning(
                    "event log unavailable, requests to it get 503 until it answers (probing every %.0fs): %s",
                    PROBE_S,
                    exc,
                )
            self.error = str(exc)
            return False
        except Exception as exc:  # a mistake (settings, permissions), not an outage: refused alike, said louder
            if self.error != str(exc):
                logger.error("event log refused the gateway: %s", exc)
            self.error, self.mistake = str(exc), exc
            return False
        self.mistake = None
        if self.error is not None:
            logger.warning("event log answers again: %s", ", ".join(self.names))
        self.error = None
        return True

    async def run(self, first: asyncio.Future[bool] | None = None) -> None:
        """Probe until the log answers, then again each time a request suspects it; ``first``: a probe
        already under way (start-up's), whose answer counts as this loop's first."""
        answered = await first if first is not None else await self.probe()
        while True:
            if answered:
                await self._wake.wait()
                self._wake.clear()
            else:
                await asyncio.sleep(PROBE_S)
            answered = await self.probe()

    async def start(self) -> asyncio.Task[None]:
        """The watcher task, after the first probe has answered or :data:`START_WAIT_S` has passed."""
        first = asyncio.ensure_future(self.probe())
        done, _ = await asyncio.wait({first}, timeout=START_WAIT_S)
        if not done:
            self.error = "the event log has not answered since start-up"
        elif self.mistake is not None:
            raise self.mistake  # wrong settings stop start-up in one line; only an outage is waited out
        return asyncio.create_task(self.run(first))
