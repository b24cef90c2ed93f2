"""The Python stream job: the streams → micro-batches → shared cleaning → Delta, exactly once.

One loop, one thread, one consumer, one job per warehouse:

0. **hold the warehouse** (:mod:`.lock`): a second stream job on it stops here, in one line;
1. **start-up**: open (or create) ``warehouse/stream/{pin,geo,user}`` and ``warehouse/dead_letter``,
   rebuild each table's set of ``ind``, read each partition's stored position from the tables' app
   transactions and seek the consumer right after it;
2. **collect** a micro-batch: poll until ``max_batch_records`` or ``max_batch_ms`` after its first
   record; drop any record at or below the position this job holds for its partition;
3. **decode** (base64 layers, see :mod:`.decode`) and **clean** with the shared definition; records
   that do not fit go to the dead letters with their reason;
4. **commit**, in this order: the dead letters (own app ids), then each stream table (rows not yet in
   the table, plus one app transaction per partition covered); then the consumer-group offsets, only
   as a monitoring hint — the tables are the truth;
5. **publish** how the job does in ``$PINPIPE_HOME/reports/stream_job.json`` (records, latency
   p50/p99 from log append to Delta visibility, lag per stream, running or not), after each commit and
   when the lag changes while idle: the dashboard and ``/api/status`` of any process read it there.

Why dead letters first: the stream tables decide where a restart resumes. If the job dies between the
two commits, the records are read again, the dead letters they produce are dropped by the dead-letter
table's own stored position, and the rows are written. The other order could lose dead letters.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pinpipe.clean.inprocess import dead_letter_table
from pinpipe.clean.schema import CLEAN_SCHEMAS, DEAD_LETTER_SCHEMA
from pinpipe.errors import DiskFullError, PinpipeError, is_disk_full
from pinpipe.log import EventLog, Record, TopicPartition, ensure_topics, open_log
from pinpipe.log.names import STREAM_GROUP
from pinpipe.process import graceful_stop
from pinpipe.reports import STREAM_JOB_FILE, report_file, write_json
from pinpipe.settings import TABLES, Settings
from pinpipe.stream.cleaning import DeadLetter, clean_records
from pinpipe.stream.decode import DecodeError, row_text
from pinpipe.stream.lock import WarehouseLock
from pinpipe.stream.metrics import LatencyHistogram, StatusLine, StreamMetrics, stream_metrics
from pinpipe.stream.positions import INT64_MAX, PositionCodec, Stored, app_id, codec_for, resume_offsets
from pinpipe.stream.table import DeltaSink, Upkeep
from pinpipe.tables import dead_letter_table_uri, storage_options, upgrade_dead_letters, warehouse_table

DEAD_LETTER_SOURCE = "stream"
DEAD = "dead_letter"  # the app-id role of a partition's dead letters
DEAD_LETTER_VALUE_LIMIT = 100_000  # characters of a bad record kept in dead_letter


@dataclass
class StreamOptions:
    """How the job batches and when it stops."""

    max_batch_records: int = 20_000
    max_batch_ms: int = 250
    until_idle: bool = False
    status: bool = True
    publish: bool = True
    """Write ``reports/stream_job.json`` (see the module docstring)."""
    poll_records: int = 5_000
    upkeep: Upkeep = field(default_factory=Upkeep)


@dataclass
class StreamSummary:
    """What one run did; ``latency`` holds every record's ack → visible age."""

    records: int = 0
    written: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    batches: int = 0
    commits: int = 0
    seconds: float = 0.0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    batch_latency_ms: list[int] = field(default_factory=list)

    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def as_status(self, *, running: bool, lag: dict[str, int] | None = None) -> dict[str, Any]:
        """What ``reports/stream_job.json`` holds; ``lag`` per stream as the consumer last saw it."""
        return {
            "running": running,
            "pid": os.getpid(),
            "updated": datetime.now(tz=UTC).isoformat(timespec="milliseconds"),
            "records": self.records,
            "written": self.written,
            "duplicates": self.duplicates,
            "dead_letters": self.dead_letters,
            "batches": self.batches,
            "commits": self.commits,
            "seconds": round(self.seconds, 3),
            "records_per_s": round(self.rate(), 1),
            "p50_ms": self.latency.percentile(50),
            "p99_ms": self.latency.percentile(99),
            "lag": lag,
        }


class StreamJob:
    """The stream job; :meth:`run` blocks until stopped (or idle with ``until_idle``)."""

    def __init__(
        self,
        settings: Settings,
        options: StreamOptions | None = None,
        *,
        log: EventLog | None = None,
        metrics: StreamMetrics | None = None,
        on_commit: Callable[[StreamSummary], None] | None = None,
        lock: WarehouseLock | None = None,
    ) -> None:
        """``lock``: the warehouse lock a caller already holds (the gateway takes it before it serves);
        without one, :meth:`run` takes and releases its own."""
        self.settings = settings
        self.options = options or StreamOptions()
        self._own_log = log is None
        assert settings.stream_log_url is not None
        self.log = log if log is not None else open_log(settings.stream_log_url, settings)
        self.codec: PositionCodec = codec_for(self.log)
        self.metrics = metrics or stream_metrics()
        self.on_commit = on_commit
        self.kinds: dict[str, str] = {settings.stream(kind): kind for kind in TABLES}
        self.summary = StreamSummary()
        self._stop = threading.Event()
        self._status = StatusLine(enabled=self.options.status)
        self.lock = lock if lock is not None else WarehouseLock(settings)
        self.status_file = report_file(settings, STREAM_JOB_FILE) if self.options.publish else None
        self._lag_by_stream: dict[str, int] | None = None

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        """Finish and commit the batch in hand, then return from :meth:`run` (any thread, signals)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ------------------------------------------------------------------ start-up

    def _open(self) -> None:
        settings = self.settings
        streams = list(self.kinds)
        ensure_topics(self.log, streams, settings.partitions)
        upkeep = self.options.upkeep
        self.tables: dict[str, DeltaSink] = {}
        for kind in TABLES:
            uri = warehouse_table(settings, "stream", kind)
            self.tables[kind] = DeltaSink(
                uri, CLEAN_SCHEMAS[kind], self.codec, upkeep=upkeep, storage_options=storage_options(uri)
            )
        dead_uri = dead_letter_table_uri(settings)
        upgrade_dead_letters(dead_uri)  # an older table gets its position column before the first append
        self.dead = DeltaSink(
            dead_uri,
            DEAD_LETTER_SCHEMA,
            self.codec,
            key=None,
            upkeep=upkeep,
            storage_options=storage_options(dead_uri),
        )
        self.consumer = self.log.consumer(STREAM_GROUP, streams)
        # Where this job stands per partition: the stream table's stored position (rows) and the
        # dead-letter table's (its dead letters). Records at or below are already applied.
        self.held: dict[TopicPartition, Stored | None] = {}
        self.held_dead: dict[TopicPartition, Stored | None] = {}
        partitions = self.log.topics()
        for stream, kind in self.kinds.items():
            for p in range(partitions.get(stream, 0)):
                tp = TopicPartition(stream, p)
                self.held[tp] = self.tables[kind].stored(app_id(tp))
                self.held_dead[tp] = self.dead.stored(app_id(tp, role=DEAD))
        for tp, position in resume_offsets(self.held).items():
            self.consumer.seek(tp, position)

    def _close(self) -> None:
        with contextlib.suppress(Exception):
            self.consumer.close()
        if self._own_log:
            with contextlib.suppress(Exception):
                self.log.close()

    # ------------------------------------------------------------------ the loop

    def run(self) -> StreamSummary:
        """Consume until stopped; with ``until_idle``, until every partition is caught up."""
        started = time.monotonic()
        # A second job on this warehouse is refused before it touches anything; a lock the caller
        # took stays the caller's to release.
        own_lock = not self.lock.held
        try:
            self.lock.acquire()
        except BaseException:
            self._close()
            raise
        # SIGTERM and Ctrl-C ask for a graceful stop (the batch in hand is committed); a second Ctrl-C
        # interrupts at once.
        with contextlib.ExitStack() as stack:
            if own_lock:
                stack.callback(self.lock.release)
            stack.enter_context(graceful_stop(self._stop))
            stack.enter_context(_disk_full_as_one_line(self.settings))
            self._open()
            try:
                idle_polls = 0
                while not self.stopping:
                    batch = self._collect()
                    if batch:
                        idle_polls = 0
                        self._apply(batch)
                    else:
                        idle_polls += 1
                    self.summary.seconds = time.monotonic() - started
                    # Asking for lag costs round trips on Kafka/Kinesis: only when idle or printing.
                    lag = self._lag() if (self._status.due() or not batch) else None
                    self._status.maybe_print(lag, self.summary.records)
                    if self.options.until_idle and not batch and idle_polls >= 2 and lag == 0:
                        break
            finally:
                self.summary.seconds = time.monotonic() - started
                self._status.maybe_print(None, self.summary.records, force=self.summary.records > 0)
                self._status.close()
                self._publish(running=False)
                self._close()
        return self.summary

    def _publish(self, *, running: bool) -> None:
        """Write the job's status file; a full disk or a read-only home costs the file, not the job."""
        if self.status_file is None:
            return
        with contextlib.suppress(OSError):
            write_json(self.status_file, self.summary.as_status(running=running, lag=self._lag_by_stream))

    def _lag(self) -> int | None:
        """Total records behind; None while the group has not settled this member's share (Kafka
        join), 0 once it has and the share is no partitions."""
        try:
            per_partition = self.consumer.lag()
        except Exception:
            return None
        if not per_partition:
            return 0 if self.consumer.joined() else None
        by_stream: dict[str, int] = defaultdict(int)
        for tp, n in per_partition.items():
            by_stream[tp.topic] += n
        for stream, n in by_stream.items():
            self.metrics.lag.labels(stream=stream).set(n)
        if dict(by_stream) != self._lag_by_stream:
            self._lag_by_stream = dict(by_stream)
            self._publish(running=True)
        return sum(per_partition.values())

    def _collect(self) -> list[Record]:
        """One micro-batch: up to ``max_batch_records``, at most ``max_batch_ms`` after its first record."""
        options = self.options
        out: list[Record] = []
        deadline: float | None = None
        while len(out) < options.max_batch_records:
            if deadline is None:
                timeout = min(options.max_batch_ms / 1000, 0.5)
            else:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
            records = self.consumer.poll(min(options.poll_records, options.max_batch_records - len(out)), timeout)
            if records:
                out.extend(self._fresh(records))
                if deadline is None:
                    deadline = time.monotonic() + options.max_batch_ms / 1000
            elif deadline is None or self.stopping:
                break
        return out

    def _fresh(self, records: list[Record]) -> list[Record]:
        """Drop records this job already holds (at or below the stored position of their partition)."""
        out = []
        last: dict[tuple[str, int], int] = {}
        for rec in records:
            key = (rec.topic, rec.partition)
            bound = last.get(key)
            if bound is None:
                tp = TopicPartition(*key)
                if tp not in self.held:  # a partition added after start-up
                    self.held[tp] = self.tables[self.kinds[tp.topic]].stored(app_id(tp))
                    self.held_dead[tp] = self.dead.stored(app_id(tp, role=DEAD))
                held = self.held[tp]
                bound = -1 if held is None else held.offset
            if rec.offset > bound:
                out.append(rec)
                bound = rec.offset
            last[key] = bound
        return out

    def _apply(self, batch: list[Record]) -> None:
        """Clean, dedupe and commit one micro-batch (dead letters first, then the stream tables)."""
        by_kind: dict[str, list[Record]] = defaultdict(list)
        for rec in batch:
            by_kind[self.kinds[rec.topic]].append(rec)
        rows: dict[str, pa.Table] = {}
        dead_letters: list[DeadLetter] = []
        for kind, records in by_kind.items():
            good: list[Record] = []
            texts: list[str] = []
            for rec in records:
                try:
                    texts.append(row_text(rec.value))
                    good.append(rec)
                except DecodeError as exc:
                    dead_letters.append(DeadLetter(rec, str(exc)))
            clean, bad = clean_records(kind, good, texts) if good else (CLEAN_SCHEMAS[kind].empty_table(), [])
            dead_letters.extend(bad)
            rows[kind] = self._new_rows(kind, clean)

        fresh_dead = [r for r in dead_letters if _above(r.record, self.held_dead.get(r.record.tp))]
        if fresh_dead:
            spans = _spans(r.record for r in fresh_dead)
            self.dead.commit(
                self._dead_letter_rows(fresh_dead), {app_id(tp, role=DEAD): span for tp, span in spans.items()}
            )
            self.metrics.commits.labels(table="dead_letter").inc()
            for tp in spans:
                self.held_dead[tp] = self.dead.expected[app_id(tp, role=DEAD)]
        for kind, records in by_kind.items():
            spans = _spans(records)
            elapsed = self.tables[kind].commit(rows[kind], {app_id(tp): span for tp, span in spans.items()})
            self.metrics.commits.labels(table=f"stream/{kind}").inc()
            self.metrics.commit_seconds.labels(table=f"stream/{kind}").observe(elapsed)
            for tp in spans:
                self.held[tp] = self.tables[kind].expected[app_id(tp)]
        visible_ms = time.time_ns() // 1_000_000
        self._after_commit(batch, by_kind, rows, [r.record for r in dead_letters], visible_ms)

    def _new_rows(self, kind: str, clean: pa.Table) -> pa.Table:
        """Rows whose ``ind`` the table does not hold yet (the cleaning already deduped the batch)."""
        known = self.tables[kind].keys
        if clean.num_rows == 0 or not known:
            return clean
        return clean.filter(pa.array([ind not in known for ind in clean["ind"].to_pylist()], pa.bool_()))

    def _dead_letter_rows(self, dead_letters: list[DeadLetter]) -> pa.Table:
        """dead_letter rows in the shared shape, at the records' real positions."""
        records = pa.table(
            {
                "topic": pa.array([r.record.topic for r in dead_letters], pa.string()),
                "partition": pa.array([r.record.partition for r in dead_letters], pa.int64()),
                "offset": pa.array([_dead_letter_offset(r.record.offset) for r in dead_letters], pa.int64()),
                "position": pa.array([str(r.record.offset) for r in dead_letters], pa.string()),
                "value": pa.array([_raw_text(r.record.value) for r in dead_letters], pa.string()),
                "reason": pa.array([r.reason for r in dead_letters], pa.string()),
            }
        )
        return dead_letter_table(records, DEAD_LETTER_SOURCE)

    def _after_commit(
        self,
        batch: list[Record],
        by_kind: dict[str, list[Record]],
        rows: dict[str, pa.Table],
        dead_records: list[Record],
        visible_ms: int,
    ) -> None:
        """Metrics, latency, consumer-group offsets (a monitoring hint only)."""
        ages = pc.subtract(pa.scalar(visible_ms, pa.int64()), pa.array([r.timestamp_ms for r in batch], pa.int64()))
        oldest = int(pc.max(ages).as_py())
        summary = self.summary
        summary.records += len(batch)
        summary.batches += 1
        summary.dead_letters += len(dead_records)
        summary.latency.observe(ages)
        summary.batch_latency_ms.append(oldest)
        self.metrics.batch_latency.observe(oldest / 1000)
        self.metrics.last_commit.set(visible_ms / 1000)
        self._status.observe(len(batch), ages)
        dead_by_stream: dict[str, int] = defaultdict(int)
        for rec in dead_records:
            dead_by_stream[rec.topic] += 1
        for kind, records in by_kind.items():
            stream = self.settings.stream(kind)
            written = rows[kind].num_rows
            summary.written += written
            self.metrics.records.labels(stream=stream, outcome="written").inc(written)
            self.metrics.records.labels(stream=stream, outcome="dead_letter").inc(dead_by_stream[stream])
            self.metrics.records.labels(stream=stream, outcome="duplicate").inc(
                len(records) - written - dead_by_stream[stream]
            )
        summary.duplicates = summary.records - summary.written - summary.dead_letters
        summary.commits = sum(t.commits for t in self.tables.values()) + self.dead.commits
        with contextlib.suppress(Exception):  # a hint for lag monitors and retention; the tables are the truth
            self.consumer.commit({tp: last + 1 for tp, last in _last_per_partition(batch).items()})
        self._publish(running=True)
        if self.on_commit is not None:
            self.on_commit(summary)


@contextlib.contextmanager
def _disk_full_as_one_line(settings: Settings) -> Iterator[None]:
    """A full warehouse disk as what it is. delta-rs says it as ``DeltaError: Failed to parse parquet:
    … No space left on device``; every commit is all or nothing, so the rerun resumes exactly."""
    try:
        yield
    except PinpipeError:
        raise
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise DiskFullError(
            f"the warehouse's disk is full ({settings.warehouse_url}): the micro-batch in hand was not committed",
            hint="free space or grow the disk, then run again: the job resumes after its last commit",
        ) from exc


def _above(record: Record, held: Stored | None) -> bool:
    return held is None or record.offset > held.offset


def _spans(records: Iterable[Record]) -> dict[TopicPartition, tuple[int, int]]:
    """Per partition, the (first, last) offset of ``records`` (which are in offset order per partition)."""
    first: dict[tuple[str, int], int] = {}
    last: dict[tuple[str, int], int] = {}
    for rec in records:
        key = (rec.topic, rec.partition)
        if key not in first:
            first[key] = rec.offset
        last[key] = rec.offset
    return {TopicPartition(*key): (start, last[key]) for key, start in first.items()}


def _last_per_partition(batch: list[Record]) -> dict[TopicPartition, int]:
    return {tp: last for tp, (_, last) in _spans(batch).items()}


def _dead_letter_offset(offset: int) -> int | None:
    """dead_letter.offset is int64; a Kinesis sequence number beyond it is in ``position`` only."""
    return offset if offset <= INT64_MAX else None


def _raw_text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")[:DEAD_LETTER_VALUE_LIMIT]
