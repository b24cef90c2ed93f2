"""The wire bodies of both routes and how 200 answers become per-record outcomes."""

from __future__ import annotations

import orjson
import pytest

from pinpipe.emulate.retry import RetryPolicy, parse_retry_after
from pinpipe.emulate.routes import Ack, KafkaRestRoute, KinesisRoute, OutRow, ProtocolError, Rejected

ROWS = [OutRow(7528, {"ind": 7528, "country": "Albania"}), OutRow(2, {"ind": 2, "country": "Korea"})]
STREAMS = {"geo": "streaming-p-geo"}


def test_kafka_rest_body_is_the_seed_scripts() -> None:
    request = KafkaRestRoute({"geo": "p.geo"}).request("p.geo", ROWS)
    assert (request.method, request.path, request.content_type) == (
        "POST",
        "/topics/p.geo",
        "application/vnd.kafka.json.v2+json",
    )
    assert orjson.loads(request.body) == {"records": [{"value": r.row} for r in ROWS]}


def test_kafka_rest_outcomes_follow_error_codes() -> None:
    body = orjson.dumps(
        {
            "offsets": [
                {"partition": 0, "offset": 41, "error_code": None, "error": None},
                {"partition": 0, "offset": None, "error_code": 2, "error": "leader moved"},
            ]
        }
    )
    ack, rejected = KafkaRestRoute({}).outcomes(ROWS, body)
    assert ack == Ack(0, 41)
    assert rejected == Rejected("error_code 2: leader moved", retryable=True)


def test_kinesis_one_row_uses_put_record_with_the_ind_as_partition_key() -> None:
    request = KinesisRoute(STREAMS).request("streaming-p-geo", ROWS[:1])
    assert (request.method, request.path) == ("PUT", "/streams/streaming-p-geo/record")
    assert orjson.loads(request.body) == {"StreamName": "streaming-p-geo", "Data": ROWS[0].row, "PartitionKey": "7528"}
    body = orjson.dumps({"SequenceNumber": "4960", "ShardId": "shardId-000000000000"})
    assert KinesisRoute(STREAMS).outcomes(ROWS[:1], body) == [Ack("shardId-000000000000", "4960")]


def test_kinesis_partial_failure_rejects_only_the_entries_with_error_codes() -> None:
    request = KinesisRoute(STREAMS).request("streaming-p-geo", ROWS)
    assert request.path == "/streams/streaming-p-geo/records"
    assert orjson.loads(request.body)["Records"][1] == {"Data": ROWS[1].row, "PartitionKey": "2"}
    body = orjson.dumps(
        {
            "FailedRecordCount": 1,
            "Records": [
                {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"},
                {"SequenceNumber": "17", "ShardId": "shardId-000000000001"},
            ],
        }
    )
    first, second = KinesisRoute(STREAMS).outcomes(ROWS, body)
    assert first == Rejected("ProvisionedThroughputExceededException: slow down", retryable=True)
    assert second == Ack("shardId-000000000001", "17")


@pytest.mark.parametrize(
    "body",
    [b"<html>", b"[]", orjson.dumps({"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1"}]})],
)
def test_an_answer_that_breaks_the_contract_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        KinesisRoute(STREAMS).outcomes(ROWS, body)


def test_backoff_grows_with_full_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=1.0)
    for failures, ceiling in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)):
        waits = [policy.delay(failures) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling / 2  # jitter spreads over the range, not a fixed wait
    assert policy.delay(1, retry_after=3.0) == 3.0
    assert policy.delay(1, retry_after=3600.0) == policy.max_retry_after_s


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
