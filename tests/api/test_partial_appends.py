"""A request Kinesis takes only partly: the gateway answers per record, exactly what is in the stream.

Kinesis ``PutRecords`` succeeds or fails per record, by AWS's design; moto never fails a record, so
``FlakyPuts`` (tests/log/test_kinesis.py) reports chosen records failed, as Kinesis does under load,
and writes the others to moto. A client that sends again only the refused records then has each
record in the stream once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pinpipe.api import create_app
from pinpipe.log import kinesis as kinesis_module
from pinpipe.log.kinesis import KinesisLog
from pinpipe.settings import Settings
from tests.api.conftest import AMZ_JSON, KAFKA_JSON, serve
from tests.log.test_contract import unique
from tests.log.test_kinesis import FlakyPuts

pytestmark = pytest.mark.services

THROTTLED = "ProvisionedThroughputExceededException"


@pytest.fixture
def kinesis(aws_env: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KinesisLog]:
    monkeypatch.setattr(kinesis_module, "PUT_BACKOFF_S", 0.001)
    log = KinesisLog("kinesis://us-east-1", Settings(home=home))
    yield log
    log.close()


@pytest.fixture
def client(kinesis: KinesisLog, home: Path) -> Iterator[httpx.Client]:
    with serve(create_app(Settings(home=home), log=kinesis, stream_log=kinesis)) as http:
        yield http


def stream_values(log: KinesisLog, stream: str) -> list[bytes]:
    """Every record in ``stream``, read to its end (bounded by the consumer's own lag)."""
    values: list[bytes] = []
    with log.consumer(unique("reader"), [stream]) as consumer:
        for _ in range(100):
            batch = consumer.poll(max_records=1000, timeout_s=0.5)
            values.extend(r.value for r in batch)
            if not batch and consumer.lag() and not any(consumer.lag().values()):
                return values
    raise AssertionError(f"{stream!r} not read to its end; read {len(values)} records")


def test_put_records_answers_each_record_and_a_resend_of_the_refused_puts_each_once(
    client: httpx.Client, kinesis: KinesisLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = unique("partial")
    kinesis.create_topic(stream, 2)
    rows = [{"n": i} for i in range(6)]
    doomed = {json.dumps(rows[i], separators=(",", ":")).encode() for i in (1, 4)}
    flaky = FlakyPuts(kinesis.client.put_records, THROTTLED, failing_calls=99, doomed=doomed)
    monkeypatch.setattr(kinesis.client, "put_records", flaky)
    body = {"Records": [{"Data": row, "PartitionKey": f"k{row['n']}"} for row in rows]}

    answer = client.put(f"/streams/{stream}/records", content=json.dumps(body), headers=AMZ_JSON)

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["FailedRecordCount"] == 2
    refused = [i for i, r in enumerate(result["Records"]) if "ErrorCode" in r]
    assert refused == [1, 4]
    assert all(result["Records"][i]["ErrorCode"] == THROTTLED for i in refused)
    written = [r for r in result["Records"] if "ErrorCode" not in r]
    assert all(r["SequenceNumber"] and r["ShardId"].startswith("shardId-") for r in written)
    assert len(flaky.calls) == kinesis_module.PUT_ATTEMPTS  # the failed records were retried before answering
    assert sorted(stream_values(kinesis, stream)) == sorted(
        json.dumps(rows[i], separators=(",", ":")).encode() for i in (0, 2, 3, 5)
    )

    flaky.failing_calls = 0  # Kinesis takes them now: the client sends the refused ones alone, as AWS SDKs do
    again = {"Records": [body["Records"][i] for i in refused]}
    second = client.put(f"/streams/{stream}/records", content=json.dumps(again), headers=AMZ_JSON)
    assert second.status_code == 200 and second.json()["FailedRecordCount"] == 0
    assert sorted(stream_values(kinesis, stream)) == sorted(json.dumps(r, separators=(",", ":")).encode() for r in rows)


def test_kafka_rest_route_on_kinesis_answers_refused_records_with_a_retriable_error_code(
    client: httpx.Client, kinesis: KinesisLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = unique("partial-rest")
    kinesis.create_topic(stream, 1)
    doomed = {b'{"n":0}'}
    flaky = FlakyPuts(kinesis.client.put_records, "InternalFailure", 99, doomed)
    monkeypatch.setattr(kinesis.client, "put_records", flaky)
    body = {"records": [{"value": {"n": i}} for i in range(3)]}

    answer = client.post(f"/topics/{stream}", content=json.dumps(body), headers=KAFKA_JSON)

    assert answer.status_code == 200, answer.text
    first, *others = answer.json()["offsets"]
    assert first["offset"] is None and first["error_code"] == 2 and "InternalFailure" in first["error"]
    assert all(o["error_code"] is None and o["offset"] is not None for o in others)
    assert sorted(stream_values(kinesis, stream)) == [b'{"n":1}', b'{"n":2}']


def test_a_request_kinesis_takes_nothing_of_is_refused_whole(
    client: httpx.Client, kinesis: KinesisLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing in the stream: the whole request's 429, with Retry-After, as before any record went in."""
    stream = unique("partial-none")
    kinesis.create_topic(stream, 1)
    doomed = {b'{"n":0}', b'{"n":1}'}
    monkeypatch.setattr(kinesis.client, "put_records", FlakyPuts(kinesis.client.put_records, THROTTLED, 99, doomed))
    body = {"Records": [{"Data": {"n": i}, "PartitionKey": "p"} for i in range(2)]}

    answer = client.put(f"/streams/{stream}/records", content=json.dumps(body), headers=AMZ_JSON)

    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 1
    assert answer.json()["__type"] == THROTTLED
    assert stream_values(kinesis, stream) == []
