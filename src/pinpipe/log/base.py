"""The event log contract every backend keeps (embedded SQLite, Kafka, Kinesis).

Small on purpose: producers append batches and get positions back; consumers read a group's share
of partitions from positions they commit. Offsets count from 0 per (topic, partition) on the
embedded log and Kafka (dense on the embedded log; on Kafka a transaction's marker takes one too); on
Kinesis the (large, increasing, non-dense) sequence number plays the role, so consumers must never
assume ``next = offset + 1`` without asking the backend.

Where backends differ, each says so in :class:`LogCapabilities` (``log.capabilities``), so the code
above the log asks what a backend can do and never reads a URL's scheme to guess it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol, Self, TypeGuard, runtime_checkable

from pinpipe.errors import PinpipeError, RetryableError


@dataclass(frozen=True, slots=True)
class LogCapabilities:
    """How a backend differs from the others where the contract leaves room, as data on the class.

    The sink, the stream job, the status page and the gateway decide by these flags, so a new backend
    states its nature once here instead of being special-cased by URL scheme across the tree.
    """

    dense_offsets: bool
    """Offsets count from 0 per partition, one per record (embedded, Kafka; on Kafka one per transaction
    marker too, see ``skips_offsets``): ``end - committed`` is a lag and an offset fits a Delta
    transaction version. Kinesis sequence numbers only increase."""

    rebalances: bool
    """A consumer may lose or gain partitions inside ``poll`` (Kafka's group coordinator): what a member
    holds for a partition is settled in the ``on_revoke`` hook its consumer calls before the partition
    leaves. False where a consumer keeps its partitions for life."""

    single_consumer_per_home: bool
    """A group may run one consumer at a time, enforced by :meth:`SingleConsumerLog.hold_group` (the
    embedded log: no coordinator shares its partitions, so two members would both read everything)."""

    submit: bool
    """The log offers :meth:`SubmittingLog.submit`: an append that hands back a future at once."""

    committed: bool
    """The log offers :meth:`CommittedLog.committed`: a group's positions, read without joining it."""

    skips_offsets: bool = False
    """Offsets may hold no record: each Kafka transaction leaves a marker at one offset of every
    partition it wrote, and an aborted record keeps its offset (a ``read_committed`` reader sees
    neither). The end offset is then at least, not exactly, the last record's + 1."""

    counts_committed: bool = False
    """The log offers :meth:`CountingLog.committed_records`: how many records a group's commits have
    covered. Where offsets are dense the committed offset already is that count; Kinesis counts."""


@dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    topic: str
    partition: int


RevokeFn = Callable[[set[TopicPartition]], None]


class Record(NamedTuple):
    """One record as read back: its position, its log timestamp (UTC ms, set at append) and bytes.

    A named tuple rather than a frozen dataclass: as immutable, and a third of the cost to build,
    which the sink pays per record (on Kafka it was a third of its main loop).
    """

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes
    key: bytes | None = None

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to append; ``partition`` None lets the backend choose (by key, else spread)."""

    value: bytes
    key: bytes | None = None
    partition: int | None = None


@dataclass(frozen=True, slots=True)
class Appended:
    """Where an appended record landed; ``offset`` is the sequence number on Kinesis."""

    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class RecordRefused:
    """A record of an append that is not in the log, with the backend's reason (Kinesis's ``ErrorCode``)."""

    error_code: str
    message: str


class PartlyAppendedError(RetryableError):
    """Some records of one append are durable and the others are not.

    Only a log whose appends are not atomic raises it (Kinesis: ``PutRecords`` succeeds or fails per
    record, by AWS's design). ``outcomes`` has one entry per record, in order, so the gateway can answer
    exactly what is in the log and a client sends again only what is not; sending the whole batch again
    would put the durable records in twice. ``unavailable``: the backend failed (503) rather than
    throttled (429). Raised only when at least one record is durable and one is not.
    """

    def __init__(
        self,
        message: str,
        outcomes: Sequence[Appended | RecordRefused],
        *,
        unavailable: bool,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after, hint=hint)
        self.outcomes = list(outcomes)
        self.unavailable = unavailable


class UnknownTopicError(PinpipeError):
    """The topic/stream does not exist; the gateway answers 404 (40401)."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic!r} not found", hint="list topics with GET /topics")
        self.topic = topic


class InvalidPartitionError(PinpipeError):
    """A record asked for a partition the topic does not have."""


class GroupInUseError(PinpipeError):
    """Another process runs a consumer of the group on a log that keeps a group to one consumer."""


class GroupJoinTimeoutError(RetryableError):
    """The broker's group coordinator did not settle this member's share in time.

    A rebalance that outlasts the group's own rebalance and session timeouts will not finish by
    waiting longer: reported, so a job exits non-zero (its scheduler retries) instead of hanging.
    """


@runtime_checkable
class LogConsumer(Protocol):
    """A member of a consumer group: reads its assigned partitions from committed positions."""

    capabilities: LogCapabilities  # its log's: a loop holding only the consumer can still ask

    def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Record]:
        """Up to ``max_records`` in offset order per partition; empty after ``timeout_s`` of nothing."""
        ...

    def commit(self, positions: Mapping[TopicPartition, int]) -> None:
        """Durably store, for each partition, the position of the NEXT record to read."""
        ...

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` on (used by jobs that keep their positions elsewhere)."""
        ...

    def assignment(self) -> set[TopicPartition]: ...

    def joined(self) -> bool:
        """Whether the group has settled this member's share, which may be no partitions at all.

        Until then an empty :meth:`assignment` means "not yet", not "nothing to read": ``--until-idle``
        runs wait for it, and a member the group gives nothing returns at once instead of waiting
        forever. Backends without group rebalancing (``capabilities.rebalances`` false: embedded,
        Kinesis) are joined from the start.
        """
        ...

    def lag(self) -> dict[TopicPartition, int]:
        """Records behind the end per assigned partition (0 = caught up; Kinesis: 0 or 1)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class EventLog(Protocol):
    """A durable, partitioned, ordered log. ``append`` returning means durable (a 200 depends on it)."""

    url: str
    capabilities: LogCapabilities

    def append(self, topic: str, records: Sequence[OutRecord]) -> list[Appended]:
        """Append all or nothing; one :class:`Appended` per record, in order.

        A log without atomic appends (Kinesis) raises :class:`PartlyAppendedError` when only some
        records went in, saying which.
        """
        ...

    def topics(self) -> dict[str, int]:
        """Every topic and its partition count."""
        ...

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        """Create ``topic`` unless it exists (then do nothing)."""
        ...

    def delete_topic(self, topic: str) -> None: ...

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition, the position the next appended record will get."""
        ...

    def consumer(self, group: str, topics: Sequence[str], *, on_revoke: RevokeFn | None = None) -> LogConsumer:
        """Join consumer group ``group`` for ``topics``; starts at committed positions, else the earliest.

        ``on_revoke`` is called inside ``poll`` with the partitions about to leave this member, while it
        still owns them and before any other member may read them: the moment to make what it holds
        for them durable and commit it. Logs without rebalances (embedded, Kinesis) never call it.
        """
        ...

    def close(self) -> None: ...


class SubmittingLog(EventLog, Protocol):
    """A log with ``capabilities.submit``: appends can be awaited without a thread blocking on each."""

    def submit(self, topic: str, records: Sequence[OutRecord]) -> Future[list[Appended]]:
        """Queue an append; the future completes once the records are durable (or fails as ``append``)."""
        ...


class CommittedLog(EventLog, Protocol):
    """A log with ``capabilities.committed``: a group's positions are readable from outside the group."""

    def committed(self, group: str) -> dict[TopicPartition, int]:
        """The positions ``group`` has committed (the next record to read, per partition)."""
        ...


class CountingLog(CommittedLog, Protocol):
    """A log with ``capabilities.counts_committed`` (offsets that are not counts, yet counted)."""

    def committed_records(self, group: str) -> dict[TopicPartition, int]:
        """Per partition, how many records ``group``'s commits have moved past."""
        ...


class SingleConsumerLog(EventLog, Protocol):
    """A log with ``capabilities.single_consumer_per_home``: it keeps a group to one consumer."""

    def hold_group(self, group: str, role: str = "consumer") -> AbstractContextManager[Path]:
        """Hold ``group`` for this process while the block runs, or raise if another process holds it.

        ``role`` names the holder in the message the second one gets ("another sink of group …").
        Yields the lock file's path.
        """
        ...


def can_submit(log: EventLog) -> TypeGuard[SubmittingLog]:
    """Whether ``log`` offers ``submit`` (by its capabilities, not by probing for the attribute)."""
    return log.capabilities.submit


def can_read_committed(log: EventLog) -> TypeGuard[CommittedLog]:
    """Whether ``log`` can tell a group's committed positions without joining the group."""
    return log.capabilities.committed


def counts_committed(log: EventLog) -> TypeGuard[CountingLog]:
    """Whether ``log`` counts the records a group's commits covered (where offsets do not count)."""
    return log.capabilities.counts_committed and log.capabilities.committed


def keeps_single_consumer(log: EventLog) -> TypeGuard[SingleConsumerLog]:
    """Whether a group on ``log`` must be held to one consumer (and ``log`` offers the lock)."""
    return log.capabilities.single_consumer_per_home


class Closing:
    """``with`` support for logs and consumers: leaving the block calls ``close()``."""

    def close(self) -> None:  # every backend defines its own; this only types the mixin
        ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        url = getattr(self, "url", None)
        return f"{type(self).__name__}({url!r})" if url is not None else super().__repr__()
