"""The emulator run: source rows → per-topic batches → N concurrent HTTP requests → summary.

Shape of a run, all in one asyncio loop (one core is plenty: a 100-record request costs the emulator
far less than it costs the gateway):

- a *producer* draws event ids, gets their rows from a prefetching database reader (a worker thread,
  one chunk ahead), paces events through the token bucket and appends each row to its topic's buffer;
  a full buffer becomes a job on a bounded queue, which is what keeps memory flat and pushes back
  when the gateway is slower than the source;
- ``concurrency`` *workers* each send one job at a time over one pooled keep-alive ``AsyncClient``,
  retrying per :mod:`pinpipe.emulate.retry`; only records not acknowledged are ever sent again;
- when pacing makes the producer wait, partly filled buffers older than ``linger_s`` go out first, so
  ``--rate 1 --batch-size 100`` still delivers each event within about ``linger_s``.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Literal

import httpx

from pinpipe.emulate.events import CHUNK_EVENTS, Event, SourceReader, pick
from pinpipe.emulate.ratelimit import Clock, Sleep, TokenBucket
from pinpipe.emulate.retry import FATAL_STATUSES, RetryPolicy, parse_retry_after, retryable_status
from pinpipe.emulate.routes import (
    KINESIS_MAX_RECORDS,
    Ack,
    KafkaRestRoute,
    KinesisRoute,
    OutRow,
    ProtocolError,
    Rejected,
    Route,
)
from pinpipe.emulate.stats import Stats, Summary
from pinpipe.errors import ConfigError
from pinpipe.settings import TABLES, mask_url
from pinpipe.source.db import open_engine

if TYPE_CHECKING:
    from rich.console import Console

RouteName = Literal["batch", "stream"]

#: The seed emulator's default: 500 events drawn at random.
DEFAULT_EVENTS = 500

#: Called after each request with the records it got acknowledged (tests record offsets with it).
AckHook = Callable[[str, Sequence[tuple[OutRow, Ack]], Stats], None]

#: Transport errors raised before any byte of the request left: repeating them cannot duplicate.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass
class EmulateOptions:
    """One run. ``events`` None means: every event with ``every_once``, no limit with ``duration_s``, else 500."""

    route: RouteName
    source_url: str
    api_url: str
    prefix: str = "pinterest"
    api_key: str | None = None
    events: int | None = None
    every_once: bool = False
    seed: int | None = None
    rate: float = 0.0
    burst: float | None = None
    concurrency: int = 8
    batch_size: int = 500
    duration_s: float | None = None
    timeout_s: float = 30.0
    linger_s: float = 0.05
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def check(self) -> None:
        """Refuse options that cannot work, with the value quoted."""
        if self.route not in ("batch", "stream"):
            raise ConfigError(f"unknown route {self.route!r}", hint="use 'batch' (Kafka REST) or 'stream' (Kinesis)")
        if self.events is not None and self.events < 0:
            raise ConfigError(f"--events must be >= 0, got {self.events}")
        if self.rate < 0:
            raise ConfigError(f"--rate must be >= 0 events/s (0 = as fast as possible), got {self.rate}")
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be >= 1, got {self.concurrency}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.route == "stream" and self.batch_size > KINESIS_MAX_RECORDS:
            raise ConfigError(
                f"--batch-size {self.batch_size} is above Kinesis PutRecords' limit",
                hint=f"use at most {KINESIS_MAX_RECORDS} on the stream route",
            )
        if self.duration_s is not None and self.duration_s <= 0:
            raise ConfigError(f"--duration must be > 0 seconds, got {self.duration_s}")
        if not self.api_url.startswith(("http://", "https://")):
            raise ConfigError(f"--api {self.api_url!r} is not an http(s) URL")

    def planned(self, available: int) -> int | None:
        """How many events this run sends (None = until ``duration_s``)."""
        if self.events is not None:
            return min(self.events, available) if self.every_once else self.events
        if self.every_once:
            return available
        if self.duration_s is not None:
            return None
        return DEFAULT_EVENTS

    def make_route(self) -> Route:
        if self.route == "batch":
            return KafkaRestRoute({kind: f"{self.prefix}.{kind}" for kind in TABLES})
        return KinesisRoute({kind: f"streaming-{self.prefix}-{kind}" for kind in TABLES})


_Job = tuple[str, list[OutRow]]


class _Prefetcher:
    """Reads the next chunk of events in the database thread while the current one is being sent."""

    def __init__(self, ids: Iterator[int], reader: SourceReader, executor: ThreadPoolExecutor) -> None:
        self._ids = ids
        self._reader = reader
        self._executor = executor
        self._pending: asyncio.Future[list[Event]] | None = None
        self._start()

    def _start(self) -> None:
        chunk = list(islice(self._ids, CHUNK_EVENTS))
        loop = asyncio.get_running_loop()
        self._pending = loop.run_in_executor(self._executor, self._reader.fetch, chunk) if chunk else None

    async def next(self) -> list[Event] | None:
        """The next chunk (possibly empty when its ids had no rows), None at the end."""
        if self._pending is None:
            return None
        events = await self._pending
        self._start()
        return events

    async def close(self) -> None:
        if self._pending is not None:
            await asyncio.gather(self._pending, return_exceptions=True)
            self._pending = None


class _Buffers:
    """Rows per table kind until a request's worth; a full buffer becomes a job on the bounded queue
    (which is what pushes back on the producer when the gateway is slower than the source)."""

    def __init__(
        self, destinations: dict[str, str], batch_size: int, queue: asyncio.Queue[_Job | None], stats: Stats
    ) -> None:
        self._destinations = destinations
        self._batch_size = batch_size
        self._queue = queue
        self._stats = stats
        self._rows: dict[str, list[OutRow]] = {kind: [] for kind in destinations}
        #: When the oldest buffered row was added (kept only when paced; cleared by :meth:`flush`).
        self.oldest: float | None = None

    async def add(self, event: Event) -> None:
        for kind, row in event.rows.items():
            rows = self._rows[kind]
            rows.append(OutRow(event.ind, row))
            if len(rows) >= self._batch_size:
                await self._emit(kind)

    async def flush(self) -> None:
        """Send every partly filled buffer (pacing would otherwise let its rows wait)."""
        for kind in self._destinations:
            if self._rows[kind]:
                await self._emit(kind)
        self.oldest = None

    async def _emit(self, kind: str) -> None:
        rows = self._rows[kind]
        self._rows[kind] = []
        self._stats.records_sent += len(rows)
        await self._queue.put((self._destinations[kind], rows))


class Emulator:
    """One emulator run; ``stats`` is live while :meth:`run` goes."""

    def __init__(
        self,
        options: EmulateOptions,
        *,
        on_ack: AckHook | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        console: Console | None = None,
    ) -> None:
        options.check()
        self.options = options
        self.route = options.make_route()
        self.stats = Stats()
        self._on_ack = on_ack
        self._clock = clock
        self._sleep = sleep
        self._console = console
        self._tls: ssl.SSLContext | None = None
        self._urls: dict[str, httpx.URL] = {}
        #: Set to a list before :meth:`run` to record the clock time each paced event was let through.
        self.dispatch_times: list[float] | None = None

    # -- the run ------------------------------------------------------------------------------

    async def run(self) -> Summary:
        opts = self.options
        began = self._clock()
        reader = SourceReader(open_engine(opts.source_url, readonly=True))  # emulating never writes the source
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pinpipe-source")
        loop = asyncio.get_running_loop()
        try:
            ids = await loop.run_in_executor(executor, reader.event_ids)
            seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**32)
            planned = opts.planned(len(ids))
            picker = pick(ids, random.Random(seed), count=planned, every_once=opts.every_once)
            queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=2 * opts.concurrency)
            start = self._clock()
            prepare_s = start - began
            workers = [asyncio.create_task(self._worker(queue)) for _ in range(opts.concurrency)]
            progress = self._progress_task(planned)
            prefetch = _Prefetcher(picker, reader, executor)
            try:
                await self._produce(prefetch, queue, start)
                for _ in workers:
                    await queue.put(None)
                await asyncio.gather(*workers)
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                await prefetch.close()
                if progress is not None:
                    await progress.stop()
            elapsed = self._clock() - start
        finally:
            await loop.run_in_executor(executor, reader.close)
            executor.shutdown(wait=True)
        return Summary.of(
            self.stats,
            route=opts.route,
            api=mask_url(opts.api_url),
            seed=seed,
            events_planned=planned,
            elapsed_s=elapsed,
            prepare_s=prepare_s,
        )

    def _client(self) -> httpx.AsyncClient:
        """A keep-alive client for one worker.

        One connection per worker, not one shared pool of ``concurrency``: httpcore's pool rescans
        every connection for every queued request, which cost more CPU than the requests themselves
        (measured: about 1.5 ms per request at 8 connections).
        """
        opts = self.options
        headers = {"accept": "application/json"}
        if opts.api_key:
            headers["x-api-key"] = opts.api_key
        if self._tls is None:  # one TLS context for all workers: loading the CA bundle costs ~20 ms
            self._tls = httpx.create_ssl_context()
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        timeout = httpx.Timeout(opts.timeout_s, connect=min(opts.timeout_s, 10.0), pool=None)
        return httpx.AsyncClient(headers=headers, limits=limits, timeout=timeout, verify=self._tls)

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of a route path, parsed once (httpx would parse and merge it per request).

        Paths are appended to the base, so an API Gateway invoke URL with a stage (``…/prod``) works.
        """
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.options.api_url.rstrip("/") + path)
        return url

    # -- producer -----------------------------------------------------------------------------

    async def _produce(self, prefetch: _Prefetcher, queue: asyncio.Queue[_Job | None], start: float) -> None:
        """Feed every event's rows to the buffers until the events, the deadline or an abort end the run."""
        opts, stats = self.options, self.stats
        bucket = TokenBucket(opts.rate, opts.burst, clock=self._clock, sleep=self._sleep) if opts.rate > 0 else None
        deadline = start + opts.duration_s if opts.duration_s is not None else None
        buffers = _Buffers({kind: self.route.destination(kind) for kind in TABLES}, opts.batch_size, queue, stats)
        try:
            while (chunk := await prefetch.next()) is not None:
                for event in chunk:
                    if not await self._admit(bucket, buffers, deadline):
                        return
                    await buffers.add(event)
                    stats.events += 1
        finally:
            if stats.aborted is None:
                await buffers.flush()

    async def _admit(self, bucket: TokenBucket | None, buffers: _Buffers, deadline: float | None) -> bool:
        """Whether the next event may go now: not after an abort or the deadline; with a rate, once the
        bucket lets it through (sending the buffers first if the wait would let their rows linger)."""
        clock = self._clock
        if self.stats.aborted is not None or _past(deadline, clock):
            return False
        if bucket is None:
            return True
        wait = bucket.reserve(1)
        if wait > 0:
            if buffers.oldest is not None and clock() + wait - buffers.oldest >= self.options.linger_s:
                await buffers.flush()
            await self._sleep(wait)
            if _past(deadline, clock):
                return False
        if self.dispatch_times is not None:
            self.dispatch_times.append(clock())
        if buffers.oldest is None:
            buffers.oldest = clock()
        return True

    # -- workers ------------------------------------------------------------------------------

    async def _worker(self, queue: asyncio.Queue[_Job | None]) -> None:
        async with self._client() as client:
            while (job := await queue.get()) is not None:
                destination, rows = job
                if self.stats.aborted is not None:
                    self._fail(rows, "not sent: run aborted")
                    continue
                try:
                    await self._deliver(client, destination, rows)
                except Exception as exc:  # a bug must not hang the run: its records count as failed
                    self._fail(rows, f"{type(exc).__name__}: {exc}")

    def _fail(self, rows: Sequence[OutRow], reason: str) -> None:
        self.stats.records_failed += len(rows)
        self.stats.error(reason, len(rows))

    async def _deliver(self, client: httpx.AsyncClient, destination: str, rows: list[OutRow]) -> None:
        """Send ``rows`` until each is acknowledged or has failed for good."""
        stats, policy, route = self.stats, self.options.retry, self.route
        pending = rows
        failures = 0
        while True:
            request = route.request(destination, pending)
            retry_after: float | None = None
            detail = ""  # what the gateway said with a retryable status
            stats.requests += 1
            stats.records_in_flight += len(pending)
            started = time.perf_counter()
            try:
                response = await client.request(
                    request.method,
                    self._url(request.path),
                    content=request.body,
                    headers={"content-type": request.content_type},
                )
            except httpx.TransportError as exc:
                stats.records_in_flight -= len(pending)
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                unknown = not isinstance(exc, _NOT_SENT)
            else:
                stats.records_in_flight -= len(pending)
                stats.latencies.add(time.perf_counter() - started)
                unknown = False
                status = response.status_code
                if status == 200:
                    pending = self._settle(destination, pending, response.content)
                    if not pending:
                        return
                    reason = "rejected by the log"
                elif retryable_status(status):
                    reason = f"HTTP {status}"  # the retry counter's key: one per status, not per message
                    detail = _message(response)
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                else:
                    reason = f"HTTP {status}: {_message(response)}"
                    self._fail(pending, reason)
                    if status in FATAL_STATUSES and stats.aborted is None:
                        stats.aborted = f"{request.method} {request.path} answered {reason}"
                    return
            failures += 1
            if failures >= policy.attempts:
                last = f"{reason}: {detail}" if detail else reason
                self._fail(pending, f"gave up after {failures} attempts, last: {last}")
                return
            stats.retries += 1
            stats.retry_reasons[reason] += len(pending)
            if unknown:
                stats.records_resent_unknown += len(pending)
            await asyncio.sleep(policy.delay(failures, retry_after))

    def _settle(self, destination: str, rows: list[OutRow], body: bytes) -> list[OutRow]:
        """Count a 200's outcomes; return the rows to send again (the retryable rejections)."""
        try:
            outcomes = self.route.outcomes(rows, body)
        except ProtocolError as exc:
            self._fail(rows, f"unreadable response: {exc}")
            return []
        acked: list[tuple[OutRow, Ack]] = []
        again: list[OutRow] = []
        for row, outcome in zip(rows, outcomes, strict=True):
            if isinstance(outcome, Ack):
                acked.append((row, outcome))
            elif isinstance(outcome, Rejected) and outcome.retryable:
                again.append(row)
            else:
                self._fail([row], f"rejected: {outcome.reason}")
        self.stats.records_acknowledged += len(acked)
        if self._on_ack is not None and acked:
            self._on_ack(destination, acked, self.stats)
        return again

    # -- progress -----------------------------------------------------------------------------

    def _progress_task(self, planned: int | None) -> _ProgressTask | None:
        if self._console is None:
            return None
        return _ProgressTask(self, planned, self._console)


def _past(deadline: float | None, clock: Clock) -> bool:
    return deadline is not None and clock() >= deadline


def _message(response: httpx.Response) -> str:
    """The gateway's one-line error message (``{"message": …}``), else the start of the body."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(payload, dict):
        for key in ("message", "detail", "Message", "error"):
            if payload.get(key):
                return str(payload[key])[:300]
    return str(payload)[:200]


class _ProgressTask:
    """A live rich progress bar on stderr, redrawn from the counters a few times a second."""

    def __init__(self, emulator: Emulator, planned: int | None, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._emulator = emulator
        self._progress = Progress(
            TextColumn(f"[bold]emulate {emulator.options.route}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("events · {task.fields[acked]:,} acked · {task.fields[failed]:,} failed · {task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task("events", total=planned, acked=0, failed=0, rate="")
        self._progress.start()
        self._started = time.monotonic()
        self._loop = asyncio.create_task(self._redraw())

    def _update(self) -> None:
        stats = self._emulator.stats
        elapsed = time.monotonic() - self._started
        rate = f"{stats.events / elapsed:,.0f} ev/s" if elapsed > 0 else ""
        self._progress.update(
            self._task, completed=stats.events, acked=stats.records_acknowledged, failed=stats.records_failed, rate=rate
        )

    async def _redraw(self) -> None:
        while True:
            self._update()
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        self._loop.cancel()
        await asyncio.gather(self._loop, return_exceptions=True)
        self._update()
        self._progress.stop()


def run_emulator(
    options: EmulateOptions,
    *,
    on_ack: AckHook | None = None,
    console: Console | None = None,
) -> Summary:
    """Run one emulator to the end in a fresh event loop (uvloop when installed) and return its summary."""
    emulator = Emulator(options, on_ack=on_ack, console=console)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(emulator.run())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(emulator.run())
