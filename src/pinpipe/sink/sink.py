"""``LakeSink``: the Kafka Connect S3 sink's job, from the event log to the raw JSON lake, exactly once.

The loop: poll a batch → add each partition's run of records to its :class:`PartitionBuffer` → close
files by the rotation rules, or because a partition went idle, or because the log is drained →
write the closed files and commit their end offsets, in rounds of at most ONE file per partition
(write, then commit, then the next round).

Why rounds: they keep at most one written-but-uncommitted file per partition, always starting at the
committed offset. After a crash the sink re-reads from that offset, so its first file has exactly
that key and replaces the orphan, whatever cut produced either; the orphan's length is read back and
pins the first cut so the bytes are identical too. docs/SINK.md has the whole argument.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter

from pinpipe.lake.format import count_records, encode
from pinpipe.lake.layout import Compression, Partitioner, object_key
from pinpipe.lake.store import LakeStore
from pinpipe.log.base import EventLog, LogConsumer, Record, TopicPartition
from pinpipe.sink.buffer import Chunk, PartitionBuffer

SINK_GROUP = "pinpipe-sink"


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

_RUN_KEY = attrgetter("topic", "partition")


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
        progress_every_s: float = 0.5,
    ) -> None:
        self.log = log
        self.store = store
        self.topics = list(topics)
        self.config = config or SinkConfig()
        self.on_progress = on_progress
        self.on_assignment = on_assignment
        self.progress_every_s = progress_every_s
        self.stats = SinkStats(topics={t: TopicStats() for t in self.topics})
        self._buffers: dict[TopicPartition, PartitionBuffer] = {}
        self._assigned: set[TopicPartition] = set()

    # ------------------------------------------------------------------ the loop

    def run(self, *, until_idle: bool = False, stop: threading.Event | None = None) -> SinkStats:
        """Sink until ``stop`` is set (or, with ``until_idle``, until every partition is drained and
        flushed). On stop, what is not committed is simply dropped: the next run re-reads it."""
        stop = stop or threading.Event()
        cfg = self.config
        idle_s = cfg.idle_flush_ms / 1000 if cfg.idle_flush_ms else None
        consumer = self.log.consumer(cfg.group, self.topics)
        self.stats = SinkStats(topics={t: TopicStats() for t in self.topics})
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
                    drained = bool(self._assigned) and not any(lag.get(tp, 0) for tp in self._assigned)
                for tp, buf in self._buffers.items():
                    if buf.values and (drained or (idle_s is not None and now - buf.last_arrival >= idle_s)):
                        chunk = buf.cut()
                        assert chunk is not None
                        closed.setdefault(tp, []).append(chunk)
                if closed:
                    self._write_and_commit(closed, consumer)
                if drained:
                    self.stats.drained = True
                    break
                if self.on_progress is not None and now >= next_progress:
                    next_progress = now + self.progress_every_s
                    self.on_progress(self.stats, consumer.lag())
            lag = consumer.lag()
        finally:
            self.stats.elapsed_s = time.monotonic() - self.stats.started
            consumer.close()
        for tp, behind in lag.items():
            self.stats.topic(tp.topic).lag += behind
        self._buffers.clear()
        return self.stats

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
                buf = self._buffers[tp] = self._open_buffer(tp, run[0])
            done = buf.add(run, now)
            if done:
                closed.setdefault(tp, []).extend(done)
        return closed

    def _open_buffer(self, tp: TopicPartition, first: Record) -> PartitionBuffer:
        """A fresh buffer at the committed offset; pinned to the length of a file a crashed run left
        at this very key (written, never committed), so the replay rewrites it byte for byte."""
        cfg = self.config
        existing = self.store.read(self._key(tp, first.offset, first.timestamp_ms))
        pinned = count_records(existing, compressed=cfg.compression is Compression.GZIP) if existing else None
        return PartitionBuffer(
            tp,
            flush_size=cfg.flush_size,
            rotate_interval_ms=cfg.rotate_interval_ms,
            daily=cfg.partitioner is Partitioner.DAILY,
            first_limit=pinned,
        )

    def _key(self, tp: TopicPartition, start_offset: int, timestamp_ms: int) -> str:
        return object_key(
            tp.topic,
            tp.partition,
            start_offset,
            partitioner=self.config.partitioner,
            timestamp_ms=timestamp_ms,
            compression=self.config.compression,
        )

    def _write_and_commit(self, closed: dict[TopicPartition, list[Chunk]], consumer: LogConsumer) -> None:
        """Write closed files and commit their ends, one file per partition per round, so a partition
        never has two written-but-uncommitted files (the exactly-once invariant)."""
        queues = {tp: deque(chunks) for tp, chunks in closed.items() if chunks}
        compression = self.config.compression
        while queues:
            batch = [q.popleft() for q in queues.values()]
            objects = {
                self._key(c.tp, c.start_offset, c.first_timestamp_ms): encode(c.values, compression) for c in batch
            }
            self.store.write(objects)
            consumer.commit({c.tp: c.end_offset for c in batch})
            for chunk, data in zip(batch, objects.values(), strict=True):
                stats = self.stats.topic(chunk.tp.topic)
                stats.records += len(chunk.values)
                stats.files += 1
                stats.bytes += len(data)
            queues = {tp: q for tp, q in queues.items() if q}
