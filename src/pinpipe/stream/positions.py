"""Where the stream job is, stored in the Delta tables themselves (the exactly-once bookkeeping).

Every Delta commit of the stream job carries, for each stream partition (Kinesis: shard) it covers,
a Delta *app transaction* ``(app_id, version)`` in the SAME atomic commit as the rows. A table's
snapshot (and every checkpoint) keeps the latest version per app id, so after any crash the table
says exactly which records it holds, and the job resumes right after them. No separate checkpoint
file can disagree with the data.

Two encodings, one per kind of offset:

- **dense offsets** (embedded log, Kafka): ``version = offset of the last record written``. Resume at
  ``version + 1``.
- **Kinesis sequence numbers** are increasing but not dense and larger than int64 (up to 2^128),
  while a Delta transaction version is a signed 64-bit integer. So ``version`` becomes a commit
  counter for the shard (previous + 1, which still orders commits and fences a second writer), and the
  sequence number itself rides in the same commit as companion transactions
  ``<app_id>#seq.n = limb count`` and ``<app_id>#seq.<i> = limb i`` (base 10^18 limbs, least
  significant first). They live in the snapshot like any app transaction, so they survive checkpoints
  and log clean-up (commit metadata would not), and they are atomic with the rows.

deltalake does not reject a version lower than the stored one (TOOLING.md), so :func:`check_fresh`
compares the batch with the stored position before every write and refuses a stale one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from deltalake import Transaction

from pinpipe.errors import PinpipeError
from pinpipe.log import EventLog, capabilities_of
from pinpipe.log.base import TopicPartition

INT64_MAX = 2**63 - 1
LIMB = 10**18  # fits a signed int64 with room to spare
APP_PREFIX = "pinpipe.stream"


class StaleBatchError(PinpipeError):
    """A write would re-apply records the table already holds (or another writer moved on)."""


def app_id(tp: TopicPartition, *, role: str = "rows") -> str:
    """The app id of one stream partition in one table: ``pinpipe.stream/<stream>/<partition>``.

    ``role`` tells apart the two tables a partition writes to: the stream table ("rows") and the
    shared ``dead_letter`` table ("dead_letter"), which both batch and stream jobs write.
    """
    base = f"{APP_PREFIX}/{tp.topic}/{tp.partition}"
    return base if role == "rows" else f"{base}/{role}"


@dataclass(frozen=True, slots=True)
class Stored:
    """A partition's position as a table stores it: last offset written and the commit counter."""

    offset: int
    version: int


class PositionCodec(ABC):
    """How a partition's last offset maps to Delta app transactions and back."""

    dense: bool = True

    @abstractmethod
    def transactions(self, app: str, offset: int, previous: Stored | None) -> list[Transaction]: ...

    @abstractmethod
    def read(self, app: str, lookup: Callable[[str], int | None]) -> Stored | None: ...


class DenseCodec(PositionCodec):
    """Embedded log and Kafka: the offset IS the transaction version."""

    dense = True

    def transactions(self, app: str, offset: int, previous: Stored | None) -> list[Transaction]:
        if not 0 <= offset <= INT64_MAX:
            raise StaleBatchError(f"offset {offset} of {app} does not fit a Delta transaction version (int64)")
        return [Transaction(app, offset)]

    def read(self, app: str, lookup: Callable[[str], int | None]) -> Stored | None:
        version = lookup(app)
        return None if version is None else Stored(offset=version, version=version)


class SequenceCodec(PositionCodec):
    """Kinesis: version = per-shard commit counter; the sequence number in companion limbs."""

    dense = False

    def transactions(self, app: str, offset: int, previous: Stored | None) -> list[Transaction]:
        limbs = split_limbs(offset)
        counter = 0 if previous is None else previous.version + 1
        out = [Transaction(app, counter), Transaction(f"{app}#seq.n", len(limbs))]
        out.extend(Transaction(f"{app}#seq.{i}", limb) for i, limb in enumerate(limbs))
        return out

    def read(self, app: str, lookup: Callable[[str], int | None]) -> Stored | None:
        version = lookup(app)
        if version is None:
            return None
        count = lookup(f"{app}#seq.n")
        if count is None:
            raise StaleBatchError(
                f"table holds {app} at version {version} but no sequence number",
                hint="the table was written by a job with another log backend; use a fresh warehouse",
            )
        limbs = [lookup(f"{app}#seq.{i}") for i in range(count)]
        if any(limb is None for limb in limbs):
            raise StaleBatchError(f"table holds an incomplete sequence number for {app}")
        return Stored(offset=join_limbs([int(limb or 0) for limb in limbs]), version=version)


def split_limbs(number: int) -> list[int]:
    """``number`` in base 10^18, least significant limb first (at least one limb)."""
    if number < 0:
        raise ValueError(f"a sequence number is never negative: {number}")
    limbs = [number % LIMB]
    number //= LIMB
    while number:
        limbs.append(number % LIMB)
        number //= LIMB
    return limbs


def join_limbs(limbs: Iterable[int]) -> int:
    total = 0
    for limb in reversed(list(limbs)):
        total = total * LIMB + limb
    return total


def codec_for(log: EventLog | str) -> PositionCodec:
    """Dense offsets are Delta versions as they are; sequence numbers (Kinesis) need the limbs.

    Takes the log, or its URL for a caller that has not opened it (the backend says, not the scheme).
    """
    capabilities = capabilities_of(log) if isinstance(log, str) else log.capabilities
    return DenseCodec() if capabilities.dense_offsets else SequenceCodec()


def check_fresh(
    app: str,
    first_offset: int,
    stored: Stored | None,
    expected: Stored | None,
) -> None:
    """Refuse a write that the table already holds, or that another writer has overtaken.

    ``stored`` is what the table says now, ``expected`` what this job last wrote (or read at
    start-up). They differ only if someone else committed for the same partition: then this job is
    a zombie and must stop. A first offset at or below the stored one is a replay: refused, because
    deltalake would accept the stale version silently and duplicate rows.
    """
    if stored != expected:
        raise StaleBatchError(
            f"{app}: table holds {stored}, this job expected {expected}",
            hint="another stream job writes the same table; run only one per warehouse",
        )
    if stored is not None and first_offset <= stored.offset:
        raise StaleBatchError(
            f"{app}: batch starts at offset {first_offset}, table already holds up to {stored.offset}"
        )


def resume_offsets(stored: Mapping[TopicPartition, Stored | None]) -> dict[TopicPartition, int]:
    """Where to seek each partition on start-up: the position after the last stored record.

    ``offset + 1`` on every backend: on Kinesis a position is "last sequence number + 1" by the log's
    convention (it reads ``AFTER_SEQUENCE_NUMBER`` position - 1), so no real next number is needed.
    Partitions with nothing stored start at 0, the log's start (Kinesis: ``TRIM_HORIZON``), so a
    deleted table is rebuilt from everything the log retains.
    """
    return {tp: 0 if position is None else position.offset + 1 for tp, position in stored.items()}
