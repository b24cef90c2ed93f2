"""The Kinesis event log against moto server: chunking, per-record failures, checkpoints, shards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pinpipe.errors import BackendUnavailableError, RetryableError, ValidationError
from pinpipe.log import OutRecord, TopicPartition, UnknownTopicError
from pinpipe.log import kinesis as kinesis_module
from pinpipe.log.base import Appended, PartlyAppendedError, RecordRefused
from pinpipe.log.kinesis import MAX_BYTES_PER_CALL, KinesisLog, chunks
from tests.log.test_contract import read_at_least, settings_for, unique

pytestmark = pytest.mark.services


@pytest.fixture
def log(aws_env: str, home: Path) -> Iterator[KinesisLog]:
    backend = KinesisLog("kinesis://us-east-1", settings_for(home))
    yield backend
    backend.close()


class FlakyPuts:
    """Stands in for ``client.put_records``: during the first ``failing_calls`` calls, records whose data
    is in ``doomed`` are reported failed with ``code`` (as Kinesis does under load) and the others are
    written to moto; later calls go straight through."""

    def __init__(self, real: Any, code: str, failing_calls: int, doomed: set[bytes] | None = None) -> None:
        self.real = real
        self.code = code
        self.failing_calls = failing_calls
        self.doomed = doomed or set()
        self.calls: list[int] = []

    def __call__(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(len(Records))
        if len(self.calls) > self.failing_calls:
            return dict(self.real(StreamName=StreamName, Records=Records))
        kept = [r for r in Records if r["Data"] not in self.doomed]
        written = iter(self.real(StreamName=StreamName, Records=kept)["Records"] if kept else [])
        outcomes = [
            {"ErrorCode": self.code, "ErrorMessage": "simulated"} if r["Data"] in self.doomed else next(written)
            for r in Records
        ]
        return {"FailedRecordCount": len(Records) - len(kept), "Records": outcomes}


def test_chunks_keep_to_500_records_and_5_mib() -> None:
    small = [{"Data": b"x" * 10, "PartitionKey": "k"} for _ in range(1200)]
    assert [len(c) for c in chunks(small)] == [500, 500, 200]
    big = [{"Data": b"x" * (2 * 1024 * 1024), "PartitionKey": "k"} for _ in range(5)]
    sizes = [sum(len(big[i]["Data"]) + 1 for i in c) for c in chunks(big)]
    assert [len(c) for c in chunks(big)] == [2, 2, 1] and max(sizes) <= MAX_BYTES_PER_CALL
    assert [i for c in chunks(big) for i in c] == list(range(5))  # order kept


def test_a_large_batch_goes_in_chunks_and_reads_back(log: KinesisLog, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = unique("kinesis-large")
    log.create_topic(stream, 2)
    counting = FlakyPuts(log.client.put_records, "unused", failing_calls=0)
    monkeypatch.setattr(log.client, "put_records", counting)
    appended = log.append(stream, [OutRecord(f'{{"ind": {i}}}'.encode(), key=f"k{i}".encode()) for i in range(1234)])
    assert counting.calls == [500, 500, 234]
    consumer = log.consumer(unique("g"), [stream])
    try:
        got = read_at_least(consumer, 1234)
    finally:
        consumer.close()
    assert sorted((r.partition, r.offset) for r in got) == sorted((a.partition, a.offset) for a in appended)


def test_failed_records_are_retried_alone(log: KinesisLog, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = unique("kinesis-retry")
    log.create_topic(stream, 1)
    monkeypatch.setattr(kinesis_module, "PUT_BACKOFF_S", 0.001)
    doomed = {b"r1", b"r3", b"r5"}
    flaky = FlakyPuts(log.client.put_records, "ProvisionedThroughputExceededException", failing_calls=1, doomed=doomed)
    monkeypatch.setattr(log.client, "put_records", flaky)
    appended = log.append(stream, [OutRecord(f"r{i}".encode()) for i in range(6)])
    assert flaky.calls == [6, 3]  # the second call carries only the three that failed
    consumer = log.consumer(unique("g"), [stream])
    try:
        got = read_at_least(consumer, 6)
    finally:
        consumer.close()
    assert len(got) == 6  # each record once
    by_position = {r.offset: r.value for r in got}
    assert [by_position[a.offset] for a in appended] == [f"r{i}".encode() for i in range(6)]


@pytest.mark.parametrize(
    ("code", "error"),
    [("ProvisionedThroughputExceededException", RetryableError), ("InternalFailure", BackendUnavailableError)],
)
def test_records_that_keep_failing_are_reported(
    log: KinesisLog, monkeypatch: pytest.MonkeyPatch, code: str, error: type[Exception]
) -> None:
    """Nothing went in: the whole append fails, throttling as retryable (429), anything else as 503."""
    stream = unique("kinesis-fail")
    log.create_topic(stream, 1)
    monkeypatch.setattr(kinesis_module, "PUT_BACKOFF_S", 0.001)
    monkeypatch.setattr(log.client, "put_records", FlakyPuts(log.client.put_records, code, 99, {b"a", b"b"}))
    with pytest.raises(error) as caught:
        log.append(stream, [OutRecord(b"a"), OutRecord(b"b")])
    assert code in str(caught.value) and "2 × " in str(caught.value)
    assert not isinstance(caught.value, PartlyAppendedError)
    if code.startswith("Provisioned"):
        assert isinstance(caught.value, RetryableError) and caught.value.retry_after is not None
        assert not isinstance(caught.value, BackendUnavailableError)


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "InternalFailure"])
def test_a_batch_that_goes_in_partly_says_which_records_are_in(
    log: KinesisLog, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    stream = unique("kinesis-partly")
    log.create_topic(stream, 1)
    monkeypatch.setattr(kinesis_module, "PUT_BACKOFF_S", 0.001)
    monkeypatch.setattr(log.client, "put_records", FlakyPuts(log.client.put_records, code, 99, {b"b"}))
    with pytest.raises(PartlyAppendedError) as caught:
        log.append(stream, [OutRecord(b"a"), OutRecord(b"b"), OutRecord(b"c")])
    first, second, third = caught.value.outcomes
    assert isinstance(first, Appended) and isinstance(third, Appended) and third.offset > first.offset
    assert second == RecordRefused(code, "simulated")
    assert caught.value.unavailable is (code == "InternalFailure") and caught.value.retry_after is not None
    consumer = log.consumer(unique("g"), [stream])
    try:
        got = read_at_least(consumer, 2)
    finally:
        consumer.close()
    assert {r.offset: r.value for r in got} == {first.offset: b"a", third.offset: b"c"}


def test_a_chunk_that_fails_stops_the_append_and_refuses_the_rest(
    log: KinesisLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,200 records in chunks of 500: the second chunk keeps failing, so the third is never sent."""
    stream = unique("kinesis-stop")
    log.create_topic(stream, 1)
    monkeypatch.setattr(kinesis_module, "PUT_BACKOFF_S", 0.001)
    values = [f"r{i}".encode() for i in range(1200)]
    doomed = {values[600]}
    flaky = FlakyPuts(log.client.put_records, "ProvisionedThroughputExceededException", 99, doomed)
    monkeypatch.setattr(log.client, "put_records", flaky)
    with pytest.raises(PartlyAppendedError) as caught:
        log.append(stream, [OutRecord(v) for v in values])
    outcomes = caught.value.outcomes
    assert flaky.calls == [500, 500, 1, 1, 1, 1]  # the third chunk (records 1000-1199) was not sent
    assert [i for i, o in enumerate(outcomes) if isinstance(o, RecordRefused)] == [600, *range(1000, 1200)]
    refused = [o for o in outcomes if isinstance(o, RecordRefused)]
    assert {o.error_code for o in refused} == {"ProvisionedThroughputExceededException"}
    assert not caught.value.unavailable


def test_shards_are_partitions_by_sorted_id(log: KinesisLog) -> None:
    stream = unique("kinesis-shards")
    log.create_topic(stream, 3)
    assert [s.shard_id for s in log.shards(stream)] == [f"shardId-{i:012d}" for i in range(3)]
    appended = log.append(stream, [OutRecord(b"x", partition=p) for p in (2, 0, 1, 2)])
    assert [a.partition for a in appended] == [2, 0, 1, 2]
    assert appended[3].offset > appended[0].offset


def test_checkpoints_live_in_a_sqlite_file_and_survive_the_process(log: KinesisLog, aws_env: str, home: Path) -> None:
    stream, group = unique("kinesis-ckpt"), unique("g")
    log.create_topic(stream, 1)
    appended = log.append(stream, [OutRecord(f"r{i}".encode()) for i in range(5)])
    tp = TopicPartition(stream, 0)
    with log.consumer(group, [stream]) as consumer:
        got = read_at_least(consumer, 5)
        consumer.commit({tp: got[1].offset + 1})
    assert (home / "checkpoints" / f"kinesis-{group}.db").is_file()
    # A new log object stands in for a restarted process: only the file carries the position.
    with KinesisLog("kinesis://us-east-1", settings_for(home)) as fresh, fresh.consumer(group, [stream]) as consumer:
        rest = read_at_least(consumer, 3)
    assert [r.offset for r in rest] == [a.offset for a in appended[2:]]


def test_commits_count_each_record_once_across_seeks_and_restarts(log: KinesisLog, home: Path) -> None:
    """Sequence numbers are not counts, so the status page's 'records' on Kinesis comes from what the
    group's commits moved past: a re-read after a seek back, or after a restart, is not counted twice."""
    stream, group = unique("kinesis-count"), unique("g")
    log.create_topic(stream, 1)
    appended = log.append(stream, [OutRecord(f"r{i}".encode()) for i in range(6)])
    tp = TopicPartition(stream, 0)
    assert log.committed_records(group) == {}
    with log.consumer(group, [stream]) as consumer:
        read_at_least(consumer, 6)
        consumer.commit({tp: appended[1].offset + 1})
        assert log.committed_records(group) == {tp: 2}
        consumer.seek(tp, appended[0].offset)  # replay from the start of what was committed
        read_at_least(consumer, 6)
        consumer.commit({tp: appended[3].offset + 1})
    assert log.committed_records(group) == {tp: 4}
    assert log.committed(group) == {tp: appended[3].offset + 1}
    with KinesisLog("kinesis://us-east-1", settings_for(home)) as fresh, fresh.consumer(group, [stream]) as consumer:
        read_at_least(consumer, 2)
        consumer.commit({tp: appended[5].offset + 1})
        assert fresh.committed_records(group) == {tp: 6}


def test_lag_is_one_until_the_shard_is_known_caught_up(log: KinesisLog) -> None:
    stream = unique("kinesis-lag")
    log.create_topic(stream, 1)
    tp = TopicPartition(stream, 0)
    with log.consumer(unique("g"), [stream]) as consumer:
        assert consumer.lag() == {tp: 1}  # not polled yet: unknown, so not caught up
        assert consumer.poll(timeout_s=0.2) == []
        assert consumer.lag() == {tp: 0}
        log.append(stream, [OutRecord(b"x")])
        read_at_least(consumer, 1)
        assert consumer.lag() == {tp: 0}


def test_bad_input_is_refused_before_anything_is_sent(log: KinesisLog) -> None:
    stream = unique("kinesis-bad")
    log.create_topic(stream, 2)
    with pytest.raises(ValidationError, match="1 MiB"):
        log.append(stream, [OutRecord(b"ok"), OutRecord(b"x" * (1024 * 1024 + 1))])
    with pytest.raises(ValidationError, match="partition key"):
        log.append(stream, [OutRecord(b"ok"), OutRecord(b"x", key=b"\xff\xfe")])
    with pytest.raises(UnknownTopicError):
        log.append(unique("kinesis-missing"), [OutRecord(b"x")])
    with pytest.raises(UnknownTopicError):
        log.consumer(unique("g"), [unique("kinesis-missing")])
    # Nothing was written: every shard's end is still its start.
    assert log.end_offsets(stream) == {p: s.starting_sequence_number for p, s in enumerate(log.shards(stream))}
