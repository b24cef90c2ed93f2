"""LakeSink from the embedded log to a local lake: every offset once, connector file boundaries."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinpipe.cli import main
from pinpipe.lake.format import decode, encode
from pinpipe.lake.layout import Partitioner, object_key, parse_key
from pinpipe.lake.store import LakeStore, open_lake, sink_files
from pinpipe.log import EventLog, TopicPartition, open_log
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings, get_settings
from pinpipe.sink import SINK_GROUP, LakeSink, SinkConfig
from pinpipe.sink.buffer import DAY_MS
from tests.services import wait_until
from tests.sink.helpers import assert_exactly_once, fill, merge, set_timestamps, snapshot

pytestmark = pytest.mark.timeout(120)

DAY0 = 1_600_000_000_000 - 1_600_000_000_000 % DAY_MS  # 2020-09-13T00:00Z


@pytest.fixture
def settings(home: Path) -> Settings:
    return get_settings()


@pytest.fixture
def log(settings: Settings) -> Iterator[EventLog]:
    assert settings.log_url
    opened = open_log(settings.log_url, settings)
    yield opened
    opened.close()


@pytest.fixture
def lake(settings: Settings) -> LakeStore:
    assert settings.lake_url
    return open_lake(settings.lake_url)


def sink(log: EventLog, lake: LakeStore, topics: list[str], **config: object) -> LakeSink:
    return LakeSink(log, lake, topics, SinkConfig(**config))


def starts(lake: LakeStore, topic: str, partition: int = 0) -> list[tuple[int, int]]:
    """(start offset, records) of each file of one partition, in offset order."""
    out = []
    for f in sink_files(lake, topic):
        if f.info.partition == partition:
            data = lake.read(f.key)
            assert data is not None
            out.append((f.info.start_offset, len(decode(data, compressed=f.info.compressed))))
    return out


def test_every_offset_once_in_files_of_flush_size(log: EventLog, lake: LakeStore) -> None:
    expected = merge(
        fill(log, "pinterest.pin", 2, 2500),
        fill(log, "pinterest.geo", 1, 10),
        fill(log, "pinterest.user", 1, 0),
    )
    stats = sink(log, lake, ["pinterest.pin", "pinterest.geo", "pinterest.user"]).run(until_idle=True)
    assert_exactly_once(lake, expected)
    assert stats.drained and stats.records == 5010
    assert (stats.topics["pinterest.pin"].files, stats.topics["pinterest.geo"].files) == (6, 1)
    assert all(t.lag == 0 for t in stats.topics.values())
    # flush.size 1000: full files, then what was left when the log was drained
    cuts = [(0, 1000), (1000, 1000), (2000, 500)]
    assert starts(lake, "pinterest.pin", 0) == starts(lake, "pinterest.pin", 1) == cuts
    # the committed offsets are the files' ends
    assert isinstance(log, EmbeddedLog)
    assert log.committed(SINK_GROUP)[TopicPartition("pinterest.pin", 1)] == 2500


def test_a_rerun_after_completion_writes_nothing(log: EventLog, lake: LakeStore) -> None:
    expected = fill(log, "t", 2, 1234)
    sink(log, lake, ["t"], flush_size=100).run(until_idle=True)
    before = snapshot(lake)
    stats = sink(log, lake, ["t"], flush_size=100).run(until_idle=True)
    assert stats.records == 0 and stats.files == 0
    assert snapshot(lake) == before
    assert_exactly_once(lake, expected)
    # more records later: only they are added, after the last file
    more = fill(log, "t", 2, 150)
    sink(log, lake, ["t"], flush_size=100).run(until_idle=True)
    assert_exactly_once(lake, merge(expected, more))
    assert starts(lake, "t", 0)[-3:] == [(1200, 34), (1234, 100), (1334, 50)]


def test_day_folders_come_from_record_timestamps(settings: Settings, log: EventLog, lake: LakeStore) -> None:
    expected = fill(log, "t", 1, 10)
    stamps = [DAY0 + DAY_MS - 3, DAY0 + DAY_MS - 2, DAY0 + DAY_MS - 1]  # 2020-09-13, last ms
    stamps += [DAY0 + DAY_MS + i for i in range(4)]  # 2020-09-14
    stamps += [DAY0 + 2 * DAY_MS + 1000 * i for i in range(3)]  # 2020-09-15
    set_timestamps(settings.home / "log.db", "t", 0, stamps)
    sink(log, lake, ["t"], flush_size=1000).run(until_idle=True)
    assert [f.key for f in sink_files(lake)] == [
        "topics/t/year=2020/month=09/day=13/t+0+0000000000.json",
        "topics/t/year=2020/month=09/day=14/t+0+0000000003.json",
        "topics/t/year=2020/month=09/day=15/t+0+0000000007.json",
    ]
    assert_exactly_once(lake, expected)


def test_rotate_interval_follows_record_time(settings: Settings, log: EventLog, lake: LakeStore) -> None:
    expected = fill(log, "t", 1, 8)
    set_timestamps(settings.home / "log.db", "t", 0, [DAY0 + 400 * i for i in range(8)])  # 0, 400, … 2800
    sink(log, lake, ["t"], flush_size=1000, rotate_interval_ms=1000).run(until_idle=True)
    # 1200 - 0 >= 1000 closes [0,3); 2400 - 1200 closes [3,6); the drained log closes [6,8)
    assert starts(lake, "t") == [(0, 3), (3, 3), (6, 2)]
    assert_exactly_once(lake, expected)


def test_an_idle_partition_is_flushed_and_committed(log: EventLog, lake: LakeStore) -> None:
    assert isinstance(log, EmbeddedLog)
    fill(log, "t", 1, 0)
    stop = threading.Event()
    runner = LakeSink(log, lake, ["t"], SinkConfig(flush_size=1000, idle_flush_ms=100))
    thread = threading.Thread(target=runner.run, kwargs={"stop": stop})
    thread.start()
    try:
        first = fill(log, "t", 1, 300)
        tp = TopicPartition("t", 0)
        wait_until(lambda: log.committed(SINK_GROUP).get(tp) == 300, timeout=30, what="idle flush of 300")
        assert starts(lake, "t") == [(0, 300)]
        second = fill(log, "t", 1, 50)
        wait_until(lambda: log.committed(SINK_GROUP).get(tp) == 350, timeout=30, what="idle flush of 50")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert starts(lake, "t") == [(0, 300), (300, 50)]
    assert_exactly_once(lake, merge(first, second))


def test_a_crashed_runs_uncommitted_files_are_rewritten_byte_for_byte(log: EventLog, lake: LakeStore) -> None:
    """A run cut [0,300) on idle and [300,1300) by flush size, wrote both and died before committing.
    The replay reads 0.. again with 2000 records available, yet re-cuts at 300 and 1300."""
    tp = TopicPartition("t", 0)
    expected = fill(log, "t", 1, 2000)[tp]
    peek = log.consumer("peek", ["t"])
    ts = peek.poll(1, 5)[0].timestamp_ms  # the file's day folder comes from its first record
    peek.close()

    def key(start: int) -> str:
        return object_key("t", 0, start, partitioner=Partitioner.DAILY, timestamp_ms=ts)

    crashed = {key(0): encode(expected[:300]), key(300): encode(expected[300:1300])}
    lake.write(crashed)
    stats = sink(log, lake, ["t"], flush_size=1000).run(until_idle=True)
    assert starts(lake, "t") == [(0, 300), (300, 1000), (1300, 700)]
    assert {k: lake.read(k) for k in crashed} == crashed
    assert stats.records == 2000
    assert_exactly_once(lake, {tp: expected})


def test_cli_gzip_default_partitioner(home: Path, log: EventLog, capsys: pytest.CaptureFixture[str]) -> None:
    expected = merge(fill(log, "a", 2, 20), fill(log, "b", 1, 5))
    args = ["sink", "run", "--until-idle", "--flush-size", "7", "--partitioner", "default"]
    assert main([*args, "--compression", "gzip", "--topics", "a,b"]) == 0
    out = capsys.readouterr().out
    assert "drained: 45 records in 7 files" in out
    lake = open_lake(str(home / "lake"))
    keys = [f.key for f in sink_files(lake)]
    assert "topics/a/partition=1/a+1+0000000014.json.gz" in keys
    assert all(k.endswith(".json.gz") and "/partition=" in k for k in keys)
    assert all(parse_key(k) is not None for k in keys)
    assert_exactly_once(lake, expected)


def test_cli_refuses_bad_input(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sink", "run", "--until-idle", "--topics", "../etc"]) != 0
    assert "invalid topic name" in capsys.readouterr().err
    assert main(["sink", "run", "--flush-size", "0"]) != 0


def test_cli_a_second_sink_of_the_group_stops_and_names_the_holder(
    home: Path, log: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """The embedded log keeps a group to one consumer: a second sink would write the same files cut
    elsewhere, so it stops before reading (here the holder is this process, through another open)."""
    expected = fill(log, "a", 1, 5)
    assert isinstance(log, EmbeddedLog)
    args = ["sink", "run", "--until-idle", "--topics", "a"]
    with log.hold_group(SINK_GROUP, role="sink"):
        assert main(args) != 0
    err = capsys.readouterr().err
    assert "another sink of group 'pinpipe-sink' is running" in err and f"(pid {os.getpid()})" in err
    lake = open_lake(str(home / "lake"))
    assert list(sink_files(lake)) == []
    assert main(args) == 0  # once the holder let go
    assert_exactly_once(lake, expected)
