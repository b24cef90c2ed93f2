"""Where one partition's records wait until they make a file: the connector's rotation rules.

A file holds consecutive offsets of ONE partition: a line per offset, the record there or, where the
offset holds none (a Kafka transaction's marker, an aborted record: the reader skipped it), a blank line
(:data:`~pinpipe.lake.format.NO_RECORD`), so a record's offset stays its file's start plus its line. It
is closed:

- by count: when it holds ``flush_size`` lines (the record that reaches the count is in it), as the
  Kafka Connect S3 sink's ``flush.size``;
- by record time: when a record arrives whose timestamp is ``rotate_interval_ms`` or more past the
  file's first record, the file is closed WITHOUT it and that record starts the next file, as the
  connector's ``rotate.interval.ms`` with the Record timestamp extractor;
- by day (daily partitioner): a record of another UTC day than the file's first record closes the
  file before it, so a file never spans two day folders;
- from outside, by :meth:`PartitionBuffer.cut` (an idle partition, or a drained log).

Every rule but the last is a function of the records alone. A cut from outside is not, so after a
(re)start the buffer is *recovering*: before it starts a file it asks
``uncommitted_length(offset, timestamp_ms)`` whether a crashed run already wrote a file at that key
(written, never committed), and if so how many records it holds; that file is then *re-cut* at exactly
that length (by no other rule, and never from outside), so the replay rewrites it with the same key and
the same bytes. The first "no file there" ends the recovery
(docs/SINK.md has the argument).

Pure logic, no I/O: the sink decides what to do with closed :class:`Chunk` s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pinpipe.lake.format import NO_RECORD
from pinpipe.log.base import Record, TopicPartition

DAY_MS = 86_400_000

# (start offset, first record's timestamp) -> records in the file a crashed run left there, written
# but not committed, or None when there is none.
UncommittedLengthFn = Callable[[int, int], int | None]


@dataclass(slots=True)
class Chunk:
    """A closed file's content: offsets ``[start_offset, end_offset)`` of one partition."""

    tp: TopicPartition
    start_offset: int
    end_offset: int  # the position to commit once the file is durable: last offset + 1
    first_timestamp_ms: int
    values: list[bytes | None]  # NO_RECORD where an offset holds no record

    def __len__(self) -> int:
        return len(self.values)

    @property
    def records(self) -> int:
        """The records in the file (its lines less the blank ones)."""
        return len(self.values) - self.values.count(NO_RECORD)


class PartitionBuffer:
    """One partition's open file, in memory, with the rules that close it."""

    __slots__ = (
        "_day",
        "_first_ts",
        "_recut_length",
        "_start",
        "daily",
        "flush_size",
        "last_arrival",
        "next_offset",
        "rotate_interval_ms",
        "tp",
        "uncommitted_length",
        "values",
    )

    def __init__(
        self,
        tp: TopicPartition,
        *,
        flush_size: int,
        rotate_interval_ms: int | None = None,
        daily: bool = True,
        uncommitted_length: UncommittedLengthFn | None = None,
    ) -> None:
        if flush_size < 1:
            raise ValueError(f"flush_size must be >= 1, got {flush_size}")
        self.tp = tp
        self.flush_size = flush_size
        self.rotate_interval_ms = rotate_interval_ms if rotate_interval_ms and rotate_interval_ms > 0 else None
        self.daily = daily
        self.uncommitted_length = uncommitted_length
        self._recut_length = 0  # the length of the uncommitted file the open one re-cuts; 0 = none
        self.values: list[bytes | None] = []
        self._start = -1
        self._first_ts = 0
        self._day = 0
        self.next_offset = -1  # offset after the last record taken; -1 before the first
        self.last_arrival = 0.0  # monotonic seconds of the last add, for idle flushing

    @property
    def pending(self) -> int:
        return len(self.values)

    @property
    def recutting(self) -> bool:
        """The open file re-creates a crashed run's file: only its length may close it."""
        return self._recut_length > 0

    @property
    def recovering(self) -> bool:
        return self.uncommitted_length is not None

    def _close(self) -> Chunk:
        chunk = Chunk(self.tp, self._start, self.next_offset, self._first_ts, self.values)
        self.values = []
        self._recut_length = 0
        return chunk

    def _open(self, rec: Record) -> None:
        self._start = rec.offset
        self._first_ts = rec.timestamp_ms
        self._day = rec.timestamp_ms // DAY_MS
        if self.uncommitted_length is not None:
            found = self.uncommitted_length(rec.offset, rec.timestamp_ms)
            if found:
                self._recut_length = found
            else:
                self.uncommitted_length = None  # past the crashed run's files: normal rules from here on

    def add(self, records: Sequence[Record], now: float = 0.0) -> list[Chunk]:
        """Take consecutive records of this partition (offset order); return the files they closed."""
        closed: list[Chunk] = []
        values = self.values
        flush_size, interval, daily = self.flush_size, self.rotate_interval_ms, self.daily
        for rec in records:
            if values:
                if self._recut_length:
                    pass  # a re-cut file closes by its length alone
                elif (daily and rec.timestamp_ms // DAY_MS != self._day) or (
                    interval is not None and rec.timestamp_ms - self._first_ts >= interval
                ):
                    closed.append(self._close())
                    values = self.values
            if not values:
                self._open(rec)
            elif rec.offset > self.next_offset:  # offsets the reader skipped: blank lines keep the count
                values.extend([NO_RECORD] * (rec.offset - self.next_offset))
            values.append(rec.value)
            self.next_offset = rec.offset + 1
            if len(values) >= (self._recut_length or flush_size):
                closed.append(self._close())
                values = self.values
        if records:
            self.last_arrival = now
        return closed

    def cut(self, *, force: bool = False) -> Chunk | None:
        """Close the open file as it is (an idle or drained partition); ``None`` when it is empty.

        A re-cut file is left open unless ``force`` (the log is drained and still lacks records the
        crashed run's file held: nothing better can be done than to replace it)."""
        if not self.values or (self._recut_length and not force):
            return None
        return self._close()
