"""``LakeSink``: the Kafka Connect S3 sink's job, from the event log to the raw JSON lake, exactly once.

The loop: poll a batch → add each partition's run of records to its :class:`PartitionBuffer` → close
files by the rotation rules, or because a partition went idle, or because the log is drained → hand
the closed files to ONE writer thread → commit each file's end offset once the writer reports it
durable. One writer, files in offset order, and a store call holds at most one file per partition
unless the store publishes a call's objects in order (the local store): a partition's written files
are always a prefix of what was handed over, so the files a crash leaves
written but uncommitted form an unbroken chain starting at the committed offset. The replay re-reads
from that offset and re-cuts each file of the chain at the length it finds in the lake (see
:mod:`pinpipe.sink.buffer`), so it rewrites the same keys with the same bytes. docs/SINK.md has the
whole argument.

Writing overlaps polling. On Kafka a rebalance happens inside ``poll`` and the next owner starts at
the committed offset at once, so the consumer's revoke hook (called inside ``poll`` before this member
rejoins, so before any other member can have the partitions) waits until every handed-over file is
durable and commits it: a file of ours can never land after the next owner looked at that key.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from pathlib import Path

from pinpipe.lake.format import count_records, encode
from pinpipe.lake.layout import Compression, Partitioner, object_key
from pinpipe.lake.store import LakeStore
from pinpipe.log.base import EventLog, LogConsumer, Record, TopicPartition, keeps_single_consumer
from pinpipe.log.names import SINK_GROUP
from pinpipe.sink.buffer import Chunk, PartitionBuffer, UncommittedLengthFn


@dataclass(frozen=True)
class SinkConfig:
    """The connector's knobs, under its names where it has them."""

    flush_size: int = 1000
    rotate_interval_ms: int | None = None
    idle_flush_ms: int | None = 10_000  # None or 0: never flush a partition for being idle
    partitioner: Partitioner = Partitioner.DAILY
    compression: Compression = Compression.NONE
    group: str = SINK_GROUP
    poll_records: int = 5000
    poll_timeout_s: float = 0.2

    def __post_init__(self) -> None:
        if self.flush_size < 1:
            raise ValueError(f"flush size must be >= 1, got {self.flush_size}")


@dataclass
class TopicStats:
    records: int = 0
    files: int = 0
    bytes: int = 0
    lag: int = 0


@dataclass
class SinkStats:
    """What a run did, per topic; ``lag`` is filled at the end (records not yet in the lake)."""

    topics: dict[str, TopicStats] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    elapsed_s: float = 0.0
    drained: bool = False
    recovered: int = 0  # files a stopped run wrote but did not commit, re-cut at their length

    def topic(self, name: str) -> TopicStats:
        stats = self.topics.get(name)
        if stats is None:
            stats = self.topics[name] = TopicStats()
        return stats

    @property
    def records(self) -> int:
        return sum(t.records for t in self.topics.values())

    @property
    def files(self) -> int:
        return sum(t.files for t in self.topics.values())


ProgressFn = Callable[[SinkStats, dict[TopicPartition, int]], None]
AssignmentFn = Callable[[set[TopicPartition]], None]
RecoveredFn = Callable[[TopicPartition, int, int], None]  # partition, start offset, records

_RUN_KEY = attrgetter("topic", "partition")
# Rounds of files handed to the writer and not yet committed, before the loop waits (memory bound).
MAX_ROUNDS_IN_FLIGHT = 8
COMMIT_EVERY_S = 0.1


def one_sink_per_group(log: EventLog, group: str) -> AbstractContextManager[Path | None]:
    """Where the log keeps a group to one consumer (the embedded log: no coordinator shares its
    partitions), a second sink of ``group`` stops with a clear message instead of writing the same
    files cut elsewhere; a no-op where the group shares the partitions. Yields the lock's path."""
    if keeps_single_consumer(log):
        return log.hold_group(group, role="sink")
    return nullcontext()


class LakeSink:
    """Drains ``topics`` of ``log`` into ``store`` as consumer group ``pinpipe-sink``."""

    def __init__(
        self,
        log: EventLog,
        store: LakeStore,
        topics: Sequence[str],
        config: SinkConfig | None = None,
        *,
        on_progress: ProgressFn | None = None,
        on_assignment: AssignmentFn | None = None,
        on_recovered: RecoveredFn | None = None,
        progress_every_s: float = 0.5,
    ) -> None:
        self.log = log
        self.store = store
        self.topics = list(topics)
        self.config = config or SinkConfig()
        self.on_progress = on_progress
        self.on_assignment = on_assignment
        self.on_recovered = on_recovered
        self.progress_every_s = progress_every_s
        self.stats = SinkStats(topics={t: TopicStats() for t in self.topics})
        self._buffers: dict[TopicPartition, PartitionBuffer] = {}
        self._assigned: set[TopicPartition] = set()
        self._in_flight: deque[Future[list[tuple[Chunk, int]]]] = deque()
        self._to_commit: dict[TopicPartition, int] = {}
        self._last_commit = 0.0

    # ------------------------------------------------------------------ the loop

    def run(self, *, until_idle: bool = False, stop: threading.Event | None = None) -> SinkStats:
        """Sink until ``stop`` is set (or, with ``until_idle``, until every partition is drained and
        flushed). On stop, files already handed to the writer are finished and committed; records
        still in buffers are dropped: the next run re-reads them, as the connector does."""
        stop = stop or threading.Event()
        cfg = self.config
        idle_s = cfg.idle_flush_ms / 1000 if cfg.idle_flush_ms else None
        self.stats = SinkStats(topics={t: TopicStats() for t in self.topics})
        self._buffers.clear()
        self._assigned = set()
        self._to_commit = {}
        consumer = self.log.consumer(cfg.group, self.topics, on_revoke=lambda _: self._before_revoke(consumer))
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pinpipe-sink-writer")
        next_progress = time.monotonic() + self.progress_every_s
        lag: dict[TopicPartition, int] = {}
        try:
            while not stop.is_set():
                records = consumer.poll(cfg.poll_records, cfg.poll_timeout_s)
                self._sync_assignment(consumer)
                now = time.monotonic()
                closed = self._take(records, now)
                drained = False
                if until_idle and len(records) < cfg.poll_records:
                    lag = consumer.lag()
                    # A member the group gave no partitions (more workers than partitions) is drained.
                    drained = consumer.joined() and not any(lag.get(tp, 0) for tp in self._assigned)
                for tp, buf in self._buffers.items():
                    if drained or (idle_s is not None and buf.values and now - buf.last_arrival >= idle_s):
                        chunk = buf.cut(force=drained)
                        if chunk is not None:
                            closed.setdefault(tp, []).append(chunk)
                if closed:
                    self._hand_over(closed, writer)
                self._settle(consumer, wait_all=drained)
                if drained:
                    self.stats.drained = True
                    break
                if self.on_progress is not None and now >= next_progress:
                    next_progress = now + self.progress_every_s
                    self.on_progress(self.stats, consumer.lag())
            self._settle(consumer, wait_all=True)
            lag = consumer.lag()
        finally:
            self.stats.elapsed_s = time.monotonic() - self.stats.started
            writer.shutdown(wait=True, cancel_futures=True)
            self._in_flight.clear()
            consumer.close()
        for tp, behind in lag.items():
            self.stats.topic(tp.topic).lag += behind
        self._buffers.clear()
        return self.stats

    def _before_revoke(self, consumer: LogConsumer) -> None:
        """Partitions are leaving (inside ``poll``): every handed-over file durable and committed first.
        If that fails, no write of ours may still be running when they go: cancel what has not started,
        wait for what has, then fail."""
        try:
            self._settle(consumer, wait_all=True)
        except BaseException:
            for future in self._in_flight:
                future.cancel()
            wait(self._in_flight)
            raise

    def _sync_assignment(self, consumer: LogConsumer) -> None:
        """Forget buffers of partitions this member no longer owns: their new owner re-reads them
        from the committed offset, so our uncommitted records must never reach the lake."""
        assigned = consumer.assignment()
        if assigned == self._assigned:
            return
        for tp in [tp for tp in self._buffers if tp not in assigned]:
            del self._buffers[tp]
        self._assigned = set(assigned)
        if self.on_assignment is not None:
            self.on_assignment(set(assigned))

    def _take(self, records: list[Record], now: float) -> dict[TopicPartition, list[Chunk]]:
        """Feed each partition's run of records to its buffer; the files that closed, per partition."""
        closed: dict[TopicPartition, list[Chunk]] = {}
        for (topic, partition), group in groupby(records, key=_RUN_KEY):
            run = list(group)
            tp = TopicPartition(topic, partition)
            buf = self._buffers.get(tp)
            if buf is not None and run[0].offset < buf.next_offset:
                # The consumer went back (a rebalance handed the partition back at its committed
                # offset): what we buffered is re-read, so start over from here.
                buf = None
            if buf is None:
                buf = self._buffers[tp] = self._new_buffer(tp)
            done = buf.add(run, now)
            if done:
                closed.setdefault(tp, []).extend(done)
        return closed

    def _new_buffer(self, tp: TopicPartition) -> PartitionBuffer:
        """A buffer starting at the committed offset, recovering: it re-cuts any file a crashed run
        wrote there (and after it) at that file's length."""
        cfg = self.config
        return PartitionBuffer(
            tp,
            flush_size=cfg.flush_size,
            rotate_interval_ms=cfg.rotate_interval_ms,
            daily=cfg.partitioner is Partitioner.DAILY,
            uncommitted_length=self._uncommitted_length(tp),
        )

    def _uncommitted_length(self, tp: TopicPartition) -> UncommittedLengthFn:
        gzip = self.config.compression is Compression.GZIP

        def existing_length(start_offset: int, timestamp_ms: int) -> int | None:
            data = self.store.read(self._key(tp, start_offset, timestamp_ms))
            if not data:
                return None
            records = count_records(data, compressed=gzip)
            self.stats.recovered += 1
            if self.on_recovered is not None:
                self.on_recovered(tp, start_offset, records)
            return records

        return existing_length

    def _key(self, tp: TopicPartition, start_offset: int, timestamp_ms: int) -> str:
        return object_key(
            tp.topic,
            tp.partition,
            start_offset,
            partitioner=self.config.partitioner,
            timestamp_ms=timestamp_ms,
            compression=self.config.compression,
        )

    # ------------------------------------------------------------------ writing and committing

    def _hand_over(self, closed: dict[TopicPartition, list[Chunk]], writer: ThreadPoolExecutor) -> None:
        """Queue closed files so that each partition's files are published in offset order: all in
        one write for a store that publishes in order, else rounds of one file per partition."""
        if self.store.publishes_in_order:
            batch = [chunk for chunks in closed.values() for chunk in chunks]
            self._in_flight.append(writer.submit(self._write_round, batch))
            return
        queues = [deque(chunks) for chunks in closed.values() if chunks]
        while queues:
            batch = [q.popleft() for q in queues]
            self._in_flight.append(writer.submit(self._write_round, batch))
            queues = [q for q in queues if q]

    def _write_round(self, batch: list[Chunk]) -> list[tuple[Chunk, int]]:
        """In the writer thread: serialise and store one round; returns each file with its size."""
        compression = self.config.compression
        objects = {self._key(c.tp, c.start_offset, c.first_timestamp_ms): encode(c.values, compression) for c in batch}
        self.store.write(objects)
        return [(c, len(data)) for c, data in zip(batch, objects.values(), strict=True)]

    def _settle(self, consumer: LogConsumer, *, wait_all: bool) -> None:
        """Commit the ends of the files the writer finished, in order; wait for all of them when
        ``wait_all``, or for the oldest while too many are in flight. Commits are spaced by
        ``COMMIT_EVERY_S`` (each is an fsync of the log) unless ``wait_all``: a later commit only
        lengthens the chain of files a crash would leave to re-cut, it never loses or doubles one."""
        positions = self._to_commit
        in_flight = self._in_flight
        while in_flight and (wait_all or in_flight[0].done() or len(in_flight) > MAX_ROUNDS_IN_FLIGHT):
            for chunk, size in in_flight.popleft().result():  # a failed write raises here
                positions[chunk.tp] = chunk.end_offset
                stats = self.stats.topic(chunk.tp.topic)
                stats.records += chunk.records
                stats.files += 1
                stats.bytes += size
        now = time.monotonic()
        if positions and (wait_all or now - self._last_commit >= COMMIT_EVERY_S):
            consumer.commit(positions)
            self._to_commit = {}
            self._last_commit = now
