"""Where one partition's records wait until they make a file: the connector's rotation rules.

A file holds consecutive records of ONE partition. It is closed:

- by count: when it holds ``flush_size`` records (the record that reaches the count is in it), as the
  Kafka Connect S3 sink's ``flush.size``;
- by record time: when a record arrives whose timestamp is ``rotate_interval_ms`` or more past the
  file's first record, the file is closed WITHOUT it and that record starts the next file, as the
  connector's ``rotate.interval.ms`` with the Record timestamp extractor;
- by day (daily partitioner): a record of another UTC day than the file's first record closes the
  file before it, so a file never spans two day folders;
- from outside, by :meth:`PartitionBuffer.cut` (an idle partition, or a drained log).

Every rule but the last is a function of the records alone, so a replay cuts at the same offsets.
``first_limit`` pins the first cut after a (re)start to the length of a file a crashed run already
wrote at the same key, so even an idle-cut file is rewritten with identical bytes (docs/SINK.md).

Pure logic, no I/O: the sink decides what to do with closed :class:`Chunk` s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pinpipe.log.base import Record, TopicPartition

DAY_MS = 86_400_000


@dataclass(slots=True)
class Chunk:
    """A closed file's content: records ``[start_offset, end_offset)`` of one partition."""

    tp: TopicPartition
    start_offset: int
    end_offset: int  # the position to commit once the file is durable: last offset + 1
    first_timestamp_ms: int
    values: list[bytes]

    def __len__(self) -> int:
        return len(self.values)


class PartitionBuffer:
    """One partition's open file, in memory, with the rules that close it."""

    __slots__ = (
        "_day",
        "_first_limit",
        "_first_ts",
        "_start",
        "daily",
        "flush_size",
        "last_arrival",
        "next_offset",
        "rotate_interval_ms",
        "tp",
        "values",
    )

    def __init__(
        self,
        tp: TopicPartition,
        *,
        flush_size: int,
        rotate_interval_ms: int | None = None,
        daily: bool = True,
        first_limit: int | None = None,
    ) -> None:
        if flush_size < 1:
            raise ValueError(f"flush_size must be >= 1, got {flush_size}")
        self.tp = tp
        self.flush_size = flush_size
        self.rotate_interval_ms = rotate_interval_ms if rotate_interval_ms and rotate_interval_ms > 0 else None
        self.daily = daily
        self._first_limit = first_limit if first_limit and first_limit > 0 else None
        self.values: list[bytes] = []
        self._start = -1
        self._first_ts = 0
        self._day = 0
        self.next_offset = -1  # offset after the last record taken; -1 before the first
        self.last_arrival = 0.0  # monotonic seconds of the last add, for idle flushing

    @property
    def pending(self) -> int:
        return len(self.values)

    @property
    def start_offset(self) -> int | None:
        return self._start if self.values else None

    def _close(self) -> Chunk:
        chunk = Chunk(self.tp, self._start, self.next_offset, self._first_ts, self.values)
        self.values = []
        self._first_limit = None  # pins only the first file after a (re)start
        return chunk

    def add(self, records: Sequence[Record], now: float = 0.0) -> list[Chunk]:
        """Take consecutive records of this partition (offset order); return the files they closed."""
        closed: list[Chunk] = []
        values = self.values
        limit = self._first_limit or self.flush_size
        pinned = self._first_limit is not None  # a pinned first file follows only its length
        interval = None if pinned else self.rotate_interval_ms
        daily = self.daily and not pinned
        day = self._day
        for rec in records:
            ts = rec.timestamp_ms
            if values and (
                (daily and ts // DAY_MS != day) or (interval is not None and ts - self._first_ts >= interval)
            ):
                closed.append(self._close())
                values = self.values
                limit, interval, daily = self.flush_size, self.rotate_interval_ms, self.daily
            if not values:
                self._start = rec.offset
                self._first_ts = ts
                day = self._day = ts // DAY_MS
            values.append(rec.value)
            self.next_offset = rec.offset + 1
            if len(values) >= limit:
                closed.append(self._close())
                values = self.values
                limit, interval, daily = self.flush_size, self.rotate_interval_ms, self.daily
        if records:
            self.last_arrival = now
        return closed

    def cut(self) -> Chunk | None:
        """Close the open file as it is (idle or drained partition); ``None`` when it is empty."""
        return self._close() if self.values else None
