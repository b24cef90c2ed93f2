"""The embedded SQLite event log: dense offsets, durability, group commit, consumer groups, retention."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pinpipe.errors import BackendUnavailableError
from pinpipe.log import GroupInUseError, OutRecord, Record, TopicPartition, UnknownTopicError, log_exists, open_log
from pinpipe.log.base import (
    EventLog,
    InvalidPartitionError,
    LogConsumer,
    can_read_committed,
    can_submit,
    keeps_single_consumer,
)
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import get_settings
from tests.services import wait_until


def url_for(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'log.db'}"


@pytest.fixture
def log(tmp_path: Path) -> EmbeddedLog:
    opened = EmbeddedLog(url_for(tmp_path))
    yield opened
    opened.close()


def values(n: int, tag: str = "r") -> list[OutRecord]:
    return [OutRecord(f'{{"{tag}":{i}}}'.encode()) for i in range(n)]


def read_all(log: EmbeddedLog, topic: str, group: str = "reader") -> list[tuple[int, int, bytes]]:
    """Every record of ``topic`` as (partition, offset, value), read until caught up."""
    out: list[tuple[int, int, bytes]] = []
    with log.consumer(group, [topic]) as consumer:
        while batch := consumer.poll(max_records=500, timeout_s=0):
            out.extend((r.partition, r.offset, r.value) for r in batch)
    return sorted(out)


def test_open_log_maps_sqlite_scheme_and_meets_the_protocols(home: Path) -> None:
    settings = get_settings()
    log = open_log(settings.log_url, settings)
    try:
        assert isinstance(log, EmbeddedLog) and isinstance(log, EventLog)
        assert log.path == home / "log.db"
        log.create_topic("t")
        with log.consumer("g", ["t"]) as consumer:
            assert isinstance(consumer, LogConsumer)
    finally:
        log.close()


def test_its_capabilities_say_what_it_offers(log: EmbeddedLog) -> None:
    """Generic code trusts these flags instead of the URL: each one must match the backend."""
    caps = log.capabilities
    assert caps.dense_offsets and not caps.rebalances and caps.single_consumer_per_home
    assert can_submit(log) and can_read_committed(log) and keeps_single_consumer(log)
    log.create_topic("t")
    assert [a.offset for a in log.submit("t", values(3)).result()] == [0, 1, 2]
    with log.consumer("g", ["t"]) as consumer:
        assert consumer.capabilities is caps and consumer.joined()
        consumer.commit({TopicPartition("t", 0): 2})
    assert log.committed("g") == {TopicPartition("t", 0): 2}


def test_a_group_is_held_by_one_process_until_the_holder_lets_go(log: EmbeddedLog) -> None:
    """The second holder (here another open of the lock file, as a second process would be) is told
    who holds it; leaving the block releases the lock for the next one."""
    with log.hold_group("pinpipe-sink", role="sink") as path:
        assert path == log.path.with_name("log.db.pinpipe-sink.lock")
        assert path.read_text() == str(os.getpid())
        message = re.escape(f"another sink of group 'pinpipe-sink' is running on {log.url} (pid {os.getpid()})")
        with pytest.raises(GroupInUseError, match=message) as refused, log.hold_group("pinpipe-sink", role="sink"):
            pass
        assert "run one sink, or use Kafka to scale out" in str(refused.value.hint)
        with log.hold_group("other-group"):
            pass  # groups are held apart
    with log.hold_group("pinpipe-sink"):
        pass


def test_log_exists_only_once_the_file_is_made(tmp_path: Path) -> None:
    url = url_for(tmp_path)
    assert not log_exists(url)
    EmbeddedLog(url).close()
    assert log_exists(url)
    assert log_exists("kafka://127.0.0.1:1") and log_exists("kinesis://us-east-1")  # opening them tells


def test_offsets_are_dense_from_zero_and_order_is_kept(log: EmbeddedLog) -> None:
    log.create_topic("t", partitions=1)
    first = log.append("t", values(3, "a"))
    second = log.append("t", values(2, "b"))
    assert [(a.partition, a.offset) for a in first + second] == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4)]
    assert log.end_offsets("t") == {0: 5}
    got = read_all(log, "t")
    assert [v for _, _, v in got] == [b'{"a":0}', b'{"a":1}', b'{"a":2}', b'{"b":0}', b'{"b":1}']


@pytest.mark.parametrize("n", [1, 7, 8, 9, 63, 64, 65, 511, 512, 513, 1_173])
def test_every_batch_size_is_stored_whole_with_keys(log: EmbeddedLog, n: int) -> None:
    """The writer inserts in chunks of 512, 64, 8 and 1 rows per statement: every split stores each
    record once, at its offset, with its key (None included)."""
    log.create_topic("t", partitions=2)
    sent = [OutRecord(f'{{"i":{i}}}'.encode(), None if i % 3 else f"k{i}".encode(), i % 2) for i in range(n)]
    appended = log.append("t", sent)
    got = {(r.partition, r.offset): (r.value, r.key) for r in read_records(log, "t")}
    assert len(got) == n
    for record, at in zip(sent, appended, strict=True):
        assert got[(at.partition, at.offset)] == (record.value, record.key)


def read_records(log: EmbeddedLog, topic: str) -> list[Record]:
    with log.consumer("reader", [topic]) as consumer:
        out: list[Record] = []
        while batch := consumer.poll(max_records=500, timeout_s=0):
            out.extend(batch)
    return out


def test_timestamps_are_set_at_append_in_utc_ms(log: EmbeddedLog) -> None:
    log.create_topic("t")
    before = time.time_ns() // 1_000_000
    log.append("t", values(1))
    after = time.time_ns() // 1_000_000
    with log.consumer("g", ["t"]) as consumer:
        (record,) = consumer.poll(timeout_s=0)
    assert before <= record.timestamp_ms <= after


def test_partition_choice_explicit_by_key_and_spread(log: EmbeddedLog) -> None:
    log.create_topic("t", partitions=4)
    explicit = log.append("t", [OutRecord(b"1", partition=3), OutRecord(b"2", partition=1)])
    assert [a.partition for a in explicit] == [3, 1]
    keyed = log.append("t", [OutRecord(b"x", key=b"user-7") for _ in range(5)])
    assert len({a.partition for a in keyed}) == 1
    again = log.append("t", [OutRecord(b"y", key=b"user-7")])
    assert again[0].partition == keyed[0].partition
    # Unkeyed appends stay together in one partition and rotate between appends.
    spread = [log.append("t", values(3)) for _ in range(4)]
    assert all(len({a.partition for a in batch}) == 1 for batch in spread)
    assert {batch[0].partition for batch in spread} == {0, 1, 2, 3}
    with log.consumer("g", ["t"]) as consumer:
        records = consumer.poll(max_records=100, timeout_s=0)
    for r in records:
        if r.key == b"user-7":
            assert r.partition == keyed[0].partition


def test_append_is_all_or_nothing(log: EmbeddedLog) -> None:
    log.create_topic("t", partitions=2)
    with pytest.raises(InvalidPartitionError):
        log.append("t", [OutRecord(b"ok", partition=0), OutRecord(b"bad", partition=2)])
    assert log.end_offsets("t") == {0: 0, 1: 0}
    with pytest.raises(UnknownTopicError):
        log.append("missing", values(2))
    assert log.append("t", [OutRecord(b"ok", partition=0)])[0].offset == 0


def test_topics_create_is_idempotent_and_delete_removes(log: EmbeddedLog) -> None:
    log.create_topic("a", partitions=3)
    log.create_topic("a", partitions=5)  # exists: nothing changes
    log.create_topic("b")
    assert log.topics() == {"a": 3, "b": 1}
    log.append("a", values(2))
    log.delete_topic("a")
    assert log.topics() == {"b": 1}
    with pytest.raises(UnknownTopicError):
        log.end_offsets("a")
    log.create_topic("a", partitions=1)
    assert log.end_offsets("a") == {0: 0}


def test_invalid_topic_names_are_refused(log: EmbeddedLog) -> None:
    from pinpipe.errors import ValidationError

    for bad in ["../etc", "a/b", "x" * 250, "", "a..b"]:
        with pytest.raises(ValidationError):
            log.create_topic(bad)
    assert log.topics() == {}


def test_acknowledged_records_survive_close_and_reopen(tmp_path: Path) -> None:
    log = EmbeddedLog(url_for(tmp_path))
    log.create_topic("t", partitions=2)
    acked = log.append("t", values(10)) + log.append("t", values(7, "z"))
    log.close()
    reopened = EmbeddedLog(url_for(tmp_path))
    try:
        got = read_all(reopened, "t")
        assert sorted((a.partition, a.offset) for a in acked) == [(p, o) for p, o, _ in got]
        more = reopened.append("t", [OutRecord(b"next", partition=acked[0].partition)])
        assert more[0].offset == reopened.end_offsets("t")[acked[0].partition] - 1
        assert more[0].offset == sum(1 for a in acked if a.partition == acked[0].partition)
    finally:
        reopened.close()


def test_closed_log_refuses_appends_as_backend_unavailable(tmp_path: Path) -> None:
    log = EmbeddedLog(url_for(tmp_path))
    log.create_topic("t")
    log.close()
    with pytest.raises(BackendUnavailableError):
        log.append("t", values(1))


def test_group_commit_batches_concurrent_appends_correctly(log: EmbeddedLog) -> None:
    """Many threads append while the file is write-locked; they all land in at most two commits."""
    log.create_topic("t", partitions=3)
    log.append("t", values(1))  # start the writer
    commits_before = log.commits
    blocker = sqlite3.connect(str(log.path), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the writer must wait: every append queues up meanwhile
    threads_n, per_thread = 16, 25
    results: dict[int, list[tuple[int, int]]] = {}
    errors: list[BaseException] = []

    def producer(i: int) -> None:
        try:
            acked = log.append("t", [OutRecord(f"{i}:{j}".encode()) for j in range(per_thread)])
            results[i] = [(a.partition, a.offset) for a in acked]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=producer, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    wait_until(lambda: log._pending_records == threads_n * per_thread, timeout=20, what="queued appends")
    blocker.execute("COMMIT")
    blocker.close()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert log.commits - commits_before <= 2
    # Each append is contiguous in one partition; offsets are dense and unique per partition.
    stored = {(p, o): v for p, o, v in read_all(log, "t")}
    for i, positions in results.items():
        assert len({p for p, _ in positions}) == 1
        offsets = [o for _, o in positions]
        assert offsets == list(range(offsets[0], offsets[0] + per_thread))
        assert [stored[pos] for pos in positions] == [f"{i}:{j}".encode() for j in range(per_thread)]
    for p, end in log.end_offsets("t").items():
        assert sorted(o for (q, o) in stored if q == p) == list(range(end))


def test_many_threads_without_blocking_get_unique_dense_offsets(log: EmbeddedLog) -> None:
    log.create_topic("t", partitions=1)
    acked: list[int] = []
    lock = threading.Lock()

    def producer() -> None:
        for _ in range(20):
            got = log.append("t", values(5))
            with lock:
                acked.extend(a.offset for a in got)

    threads = [threading.Thread(target=producer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(acked) == list(range(8 * 20 * 5))


def test_two_writer_instances_on_one_file_keep_offsets_dense(tmp_path: Path) -> None:
    """What `pinpipe api --workers N` does: several logs (processes) appending to the same file."""
    first, second = EmbeddedLog(url_for(tmp_path)), EmbeddedLog(url_for(tmp_path))
    try:
        first.create_topic("t", partitions=2)
        second.create_topic("t", partitions=2)  # a second worker starting: nothing changes
        acked: list[tuple[int, int]] = []
        lock = threading.Lock()

        def producer(log: EmbeddedLog, tag: int) -> None:
            for i in range(30):
                got = log.append("t", [OutRecord(f"{tag}:{i}".encode(), partition=i % 2)])
                with lock:
                    acked.extend((a.partition, a.offset) for a in got)

        threads = [threading.Thread(target=producer, args=(log, n)) for n, log in enumerate([first, second] * 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(acked) == sorted((p, o) for p in (0, 1) for o in range(60))
        assert first.end_offsets("t") == second.end_offsets("t") == {0: 60, 1: 60}
    finally:
        first.close()
        second.close()


def test_consumer_group_commit_and_resume(log: EmbeddedLog) -> None:
    log.create_topic("t", partitions=2)
    log.append("t", [OutRecord(f"{i}".encode(), partition=i % 2) for i in range(10)])
    tp0, tp1 = TopicPartition("t", 0), TopicPartition("t", 1)
    with log.consumer("sink", ["t"]) as consumer:
        assert consumer.assignment() == {tp0, tp1}
        first = consumer.poll(max_records=4, timeout_s=0)
        assert len(first) == 4
        done: dict[TopicPartition, int] = {}
        for r in first:
            done[r.tp] = r.offset + 1
        consumer.commit(done)
    assert log.committed("sink") == done
    with log.consumer("sink", ["t"]) as again:
        rest: list[tuple[int, int]] = []
        while batch := again.poll(timeout_s=0):
            rest.extend((r.partition, r.offset) for r in batch)
    seen = {(r.partition, r.offset) for r in first}
    assert sorted(seen | set(rest)) == sorted((p, o) for p in (0, 1) for o in range(5))
    assert not seen & set(rest)
    with log.consumer("other", ["t"]) as fresh:  # another group starts at the earliest
        assert len(fresh.poll(max_records=100, timeout_s=0)) == 10


def test_seek_and_lag(log: EmbeddedLog) -> None:
    log.create_topic("t")
    log.append("t", values(8))
    tp = TopicPartition("t", 0)
    with log.consumer("g", ["t"]) as consumer:
        assert consumer.lag() == {tp: 8}
        consumer.poll(max_records=3, timeout_s=0)
        assert consumer.lag() == {tp: 5}
        consumer.seek(tp, 6)
        assert [r.offset for r in consumer.poll(timeout_s=0)] == [6, 7]
        assert consumer.lag() == {tp: 0}
        consumer.seek(tp, 1)
        assert consumer.poll(max_records=1, timeout_s=0)[0].value == b'{"r":1}'
        with pytest.raises(InvalidPartitionError):
            consumer.seek(TopicPartition("t", 5), 0)


def test_poll_returns_empty_after_timeout_and_wakes_on_append(log: EmbeddedLog) -> None:
    log.create_topic("t")
    with log.consumer("g", ["t"]) as consumer:
        assert consumer.poll(timeout_s=0.05) == []
        appender = threading.Thread(target=lambda: log.append("t", values(1)))
        appender.start()
        got = consumer.poll(timeout_s=30)
        appender.join()
        assert [r.offset for r in got] == [0]


def test_consumer_of_unknown_topic_fails(log: EmbeddedLog) -> None:
    with pytest.raises(UnknownTopicError):
        log.consumer("g", ["nope"])


def test_retention_deletes_old_records_but_not_what_a_group_still_needs(tmp_path: Path) -> None:
    settings = get_settings(home=tmp_path / "home", log_retention_hours=1.0)
    log = EmbeddedLog(url_for(tmp_path), settings)
    try:
        log.create_topic("kept", partitions=1)
        log.create_topic("free", partitions=1)
        log.append("kept", values(10))
        log.append("free", values(10))
        assert log.purge_expired() == 0  # nothing is an hour old yet
        with log.consumer("sink", ["kept"]) as consumer:
            consumer.commit({TopicPartition("kept", 0): 4})
        two_hours_later = time.time_ns() // 1_000_000 + 2 * 3_600_000
        assert log.purge_expired(now_ms=two_hours_later) == 4 + 10
        assert log.start_offsets("kept") == {0: 4}
        assert log.start_offsets("free") == {0: 10}
        # Offsets keep counting after a purge: no reuse.
        assert log.append("free", values(1))[0].offset == 10
        with log.consumer("late", ["kept"]) as late:  # a new group starts at the earliest kept record
            assert late.poll(timeout_s=0)[0].offset == 4
    finally:
        log.close()


WRITER = textwrap.dedent(
    """
    import sys
    from pinpipe.log.base import OutRecord
    from pinpipe.log.embedded import EmbeddedLog
    log = EmbeddedLog(sys.argv[1])
    log.create_topic("t", partitions=2)
    for i in range(int(sys.argv[2])):
        acked = log.append("t", [OutRecord(f"{i}:{j}".encode()) for j in range(10)])
        print(acked[0].partition, acked[0].offset, len(acked), flush=True)
    log.close()
    """
)


def test_writer_process_and_reader_process_at_once(tmp_path: Path) -> None:
    """A writer process appends while this (reader) process consumes and commits its group offsets."""
    url = url_for(tmp_path)
    batches = 150
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url, str(batches)], stdout=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: (tmp_path / "log.db").exists(), timeout=30, what="writer's log.db")
        reader_log = EmbeddedLog(url)
        wait_until(lambda: "t" in reader_log.topics(), timeout=30, what="writer's topic")
        got: list[tuple[int, int, bytes]] = []
        deadline = time.monotonic() + 60
        with reader_log.consumer("reader", ["t"]) as consumer:
            while len(got) < batches * 10 and time.monotonic() < deadline:
                records = consumer.poll(max_records=200, timeout_s=1)
                got.extend((r.partition, r.offset, r.value) for r in records)
                if records:
                    consumer.commit({tp: consumer.position(tp) for tp in consumer.assignment()})
        out, _ = writer.communicate(timeout=60)
        assert writer.returncode == 0
        assert len(got) == batches * 10
        acked = [tuple(map(int, line.split())) for line in out.splitlines()]
        by_position = {(p, o): v for p, o, v in got}
        for i, (partition, first, n) in enumerate(acked):
            assert [by_position[(partition, first + j)] for j in range(n)] == [f"{i}:{j}".encode() for j in range(n)]
        ends = reader_log.end_offsets("t")
        assert reader_log.committed("reader") == {TopicPartition("t", p): e for p, e in ends.items()}
        reader_log.close()
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from pinpipe.log.base import OutRecord
    from pinpipe.log.embedded import EmbeddedLog
    log = EmbeddedLog(sys.argv[1])
    log.create_topic("t")
    i = 0
    while True:
        acked = log.append("t", [OutRecord(f"{i}:{j}".encode()) for j in range(20)])
        print(acked[0].offset, len(acked), flush=True)
        i += 1
    """
)


def test_acknowledged_appends_survive_sigkill(tmp_path: Path) -> None:
    url = url_for(tmp_path)
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, url], stdout=subprocess.PIPE, text=True)
    acked: list[tuple[int, int]] = []
    try:
        assert writer.stdout is not None
        while len(acked) < 50:
            line = writer.stdout.readline()
            assert line, "writer exited early"
            first, n = map(int, line.split())
            acked.append((first, n))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    log = EmbeddedLog(url)
    try:
        stored = {o: v for _, o, v in read_all(log, "t")}
        for i, (first, n) in enumerate(acked):
            assert [stored.get(first + j) for j in range(n)] == [f"{i}:{j}".encode() for j in range(n)]
        assert sorted(stored) == list(range(len(stored)))  # dense, no holes after the crash
        assert log.end_offsets("t") == {0: len(stored)}
    finally:
        log.close()
