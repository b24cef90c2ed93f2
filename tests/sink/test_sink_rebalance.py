"""LakeSink on a log whose partitions move (Kafka): writing overlaps polling, and the consumer's revoke
hook is where that overlap ends. When a partition leaves, every file already handed to the writer must
be durable and committed before the next owner can look at its key (``tests/log/test_kafka.py`` shows
on Apache Kafka that the hook runs while the member still owns the partitions, and that its commit is
where the next owner starts). Here the log is a scripted consumer and the lake's writes are held back
until the revocation, so the files are still in flight when it comes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from pinpipe.errors import BackendUnavailableError
from pinpipe.lake.store import LakeStore, open_lake, sink_files
from pinpipe.log import LogCapabilities, Record, TopicPartition, capabilities_of
from pinpipe.log.base import RevokeFn
from pinpipe.sink import LakeSink, SinkConfig

pytestmark = pytest.mark.timeout(60)

TP = TopicPartition("t", 0)
FLUSH = 100
BATCHES = 5  # polls of FLUSH records: five files in flight when the partition leaves


class HeldLake:
    """A local lake whose writes wait until ``release`` is set (the disk is slow right now); with
    ``fail_first`` its first write fails once released (the disk went away)."""

    def __init__(self, lake: LakeStore, *, fail_first: bool = False) -> None:
        self.lake = lake
        self.release = threading.Event()
        self.fail_first = fail_first
        self.started = 0
        self.running = 0

    def write(self, objects: Mapping[str, bytes]) -> None:
        self.started += 1
        self.running += 1
        try:
            assert self.release.wait(timeout=30), "the lake was never released"
            if self.fail_first and self.started == 1:
                raise BackendUnavailableError("lake write failed: the disk went away")
            self.lake.write(objects)
        finally:
            self.running -= 1

    def __getattr__(self, name: str) -> object:
        return getattr(self.lake, name)


class ScriptedConsumer:
    """BATCHES polls of records of ``TP``, then the partition is revoked inside the next poll."""

    def __init__(self, on_revoke: RevokeFn | None, lake: HeldLake, stop: threading.Event) -> None:
        self.capabilities: LogCapabilities = capabilities_of("kafka://127.0.0.1:9092")
        self.on_revoke, self.lake, self.stop = on_revoke, lake, stop
        self.committed: dict[TopicPartition, int] = {}
        self.at_revoke: tuple[dict[TopicPartition, int], int] | None = None
        self.writes_when_failed: tuple[int, int] | None = None
        self.polls = 0
        self.owned = {TP}

    def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Record]:
        self.polls += 1
        if self.polls <= BATCHES:
            start = (self.polls - 1) * FLUSH
            offsets = range(start, start + FLUSH)
            return [Record(TP.topic, TP.partition, o, 1_600_000_000_000, b'{"i":%d}' % o) for o in offsets]
        if self.owned:
            assert self.on_revoke is not None, "the sink gave its consumer no revoke hook"
            assert not list(sink_files(self.lake.lake)), "the writes were meant to be still in flight"
            self.lake.release.set()
            try:
                self.on_revoke(set(self.owned))
            except BaseException:
                self.writes_when_failed = (self.lake.started, self.lake.running)
                raise
            self.at_revoke = (dict(self.committed), len(list(sink_files(self.lake.lake))))
            self.owned = set()
            self.stop.set()
        return []

    def commit(self, positions: Mapping[TopicPartition, int]) -> None:
        self.committed.update(positions)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        raise AssertionError("the sink does not seek")

    def assignment(self) -> set[TopicPartition]:
        return set(self.owned)

    def joined(self) -> bool:
        return True

    def lag(self) -> dict[TopicPartition, int]:
        return {}

    def close(self) -> None:
        pass


class ScriptedLog:
    """Just what :class:`LakeSink` asks of a log: its capabilities and a consumer."""

    url = "kafka://127.0.0.1:9092"

    def __init__(self, lake: HeldLake, stop: threading.Event) -> None:
        self.capabilities = capabilities_of(self.url)
        self.lake, self.stop = lake, stop
        self.member: ScriptedConsumer | None = None

    def consumer(self, group: str, topics: Sequence[str], *, on_revoke: RevokeFn | None = None) -> ScriptedConsumer:
        self.member = ScriptedConsumer(on_revoke, self.lake, self.stop)
        return self.member


def test_files_in_flight_are_durable_and_committed_before_the_partition_leaves(tmp_path: Path) -> None:
    lake = HeldLake(open_lake(str(tmp_path / "lake")))
    stop = threading.Event()
    log = ScriptedLog(lake, stop)
    sink = LakeSink(log, lake, [TP.topic], SinkConfig(flush_size=FLUSH, idle_flush_ms=None))  # type: ignore[arg-type]
    sink.run(stop=stop)
    assert log.member is not None and log.member.at_revoke is not None
    committed, files = log.member.at_revoke
    assert committed == {TP: BATCHES * FLUSH} and files == BATCHES


def test_a_failed_write_stops_every_later_one_before_the_partition_leaves(tmp_path: Path) -> None:
    """The first file's write fails while four more are queued: the hook fails the run, and by then the
    one write that had started has finished and the others never start (none can land after the
    partition moved on)."""
    lake = HeldLake(open_lake(str(tmp_path / "lake")), fail_first=True)
    stop = threading.Event()
    log = ScriptedLog(lake, stop)
    sink = LakeSink(log, lake, [TP.topic], SinkConfig(flush_size=FLUSH, idle_flush_ms=None))  # type: ignore[arg-type]
    with pytest.raises(BackendUnavailableError, match="the disk went away"):
        sink.run(stop=stop)
    assert log.member is not None and log.member.writes_when_failed is not None
    started, running = log.member.writes_when_failed
    assert running == 0 and started <= 2 and lake.started == started
    assert log.member.committed == {}
