"""Bad input gets a clear 4xx (or 503/429 for the backend), nothing half-written, and the process lives on."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pinpipe.api.body import MAX_BODY_BYTES, MAX_RECORD_BYTES
from pinpipe.api.deps import get_log, get_stream_log
from pinpipe.log.base import Appended, OutRecord
from pinpipe.log.embedded import EmbeddedLog
from tests.api.conftest import AMZ_JSON, KAFKA_JSON, serve
from tests.services import wait_until
from tests.support.gateway import GatewayURL

TOPIC = "pinterest.pin"
STREAM = "streaming-pinterest-pin"


def good(client: httpx.Client) -> None:
    """The gateway still acknowledges a good record after the bad input."""
    body = json.dumps({"records": [{"value": {"ok": 1}}]})
    assert client.post(f"/topics/{TOPIC}", content=body, headers=KAFKA_JSON).status_code == 200


def assert_error(response: httpx.Response, status: int, error_code: int | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == (error_code or status)
    assert isinstance(body["message"], str) and body["message"]
    return body


class RecordingLog:
    """The real embedded log, with a record of every call the gateway made to it."""

    def __init__(self, log: EmbeddedLog) -> None:
        self.log = log
        self.url = log.url
        self.capabilities = log.capabilities
        self.calls: list[str] = []

    def append(self, topic: str, records: Sequence[OutRecord]) -> list[Appended]:
        self.calls.append(f"append {topic}")
        return self.log.append(topic, records)

    def topics(self) -> dict[str, int]:
        self.calls.append("topics")
        return self.log.topics()

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.log, name)


@pytest.fixture
def recorded(app: FastAPI, log: EmbeddedLog) -> Iterator[tuple[httpx.Client, RecordingLog]]:
    """A served app whose routes reach the log only through a :class:`RecordingLog`."""
    recording = RecordingLog(log)
    app.dependency_overrides[get_log] = lambda: recording
    app.dependency_overrides[get_stream_log] = lambda: recording
    with serve(app) as http:
        yield http, recording


# ---------------------------------------------------------------- 400 invalid JSON


def test_invalid_json_is_400(client: httpx.Client, log: EmbeddedLog) -> None:
    body = assert_error(client.post(f"/topics/{TOPIC}", content=b'{"records": [{"value": ', headers=KAFKA_JSON), 400)
    assert "not valid JSON" in body["message"]
    assert_error(client.put(f"/streams/{STREAM}/record", content=b"{nope", headers=AMZ_JSON), 400)
    assert log.end_offsets(TOPIC) == {0: 0}
    good(client)


# ---------------------------------------------------------------- 422 not wrapped


def test_row_not_wrapped_in_records_is_422_in_the_proxy_shape(client: httpx.Client, log: EmbeddedLog) -> None:
    row = {"index": 1, "title": "x"}
    body = assert_error(client.post(f"/topics/{TOPIC}", content=json.dumps(row), headers=KAFKA_JSON), 422)
    assert set(body) == {"error_code", "message"}
    assert "records" in body["message"]
    assert log.end_offsets(TOPIC) == {0: 0}


def test_row_not_wrapped_in_value_is_422_and_the_batch_is_all_or_nothing(
    client: httpx.Client, log: EmbeddedLog
) -> None:
    records = [{"value": {"n": 1}}, {"n": 2}, {"value": {"n": 3}}]
    body = assert_error(
        client.post(f"/topics/{TOPIC}", content=json.dumps({"records": records}), headers=KAFKA_JSON), 422
    )
    assert "records[1]" in body["message"]
    assert log.end_offsets(TOPIC) == {0: 0}
    good(client)


def test_kinesis_record_without_data_or_partition_key_is_422(client: httpx.Client, log: EmbeddedLog) -> None:
    for bad in [{"PartitionKey": "p"}, {"Data": {"a": 1}}, {"Data": "not base64 !", "PartitionKey": "p"}, [1, 2]]:
        response = client.put(f"/streams/{STREAM}/record", content=json.dumps(bad), headers=AMZ_JSON)
        assert_error(response, 422)
        assert response.json()["__type"] == "ValidationException"
    batch = {"Records": [{"Data": {"a": 1}, "PartitionKey": "p"}, {"Data": {"a": 2}}]}
    assert_error(client.put(f"/streams/{STREAM}/records", content=json.dumps(batch), headers=AMZ_JSON), 422)
    assert log.end_offsets(STREAM) == {0: 0}


# ---------------------------------------------------------------- 415 content type


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_on_the_kafka_route_is_415(
    client: httpx.Client, log: EmbeddedLog, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps({"records": [{"value": {"n": 1}}]})
    assert_error(client.post(f"/topics/{TOPIC}", content=body, headers=headers), 415)
    assert log.end_offsets(TOPIC) == {0: 0}


def test_wrong_content_type_on_the_kinesis_route_is_415(client: httpx.Client) -> None:
    body = json.dumps({"Data": {"n": 1}, "PartitionKey": "p"})
    response = client.put(f"/streams/{STREAM}/record", content=body, headers=KAFKA_JSON)
    assert_error(response, 415)
    with_charset = {"Content-Type": "application/json; charset=utf-8"}
    assert client.put(f"/streams/{STREAM}/record", content=body, headers=with_charset).status_code == 200


# ---------------------------------------------------------------- 404 unknown topic/stream


def test_unknown_topic_is_404_40401(client: httpx.Client) -> None:
    body = json.dumps({"records": [{"value": {"n": 1}}]})
    assert_error(client.post("/topics/no-such-topic", content=body, headers=KAFKA_JSON), 404, 40401)
    assert_error(client.get("/topics/no-such-topic"), 404, 40401)


def test_unknown_stream_is_404_40401(client: httpx.Client) -> None:
    body = json.dumps({"Data": {"n": 1}, "PartitionKey": "p"})
    assert_error(client.put("/streams/no-such-stream/record", content=body, headers=AMZ_JSON), 404, 40401)
    records = json.dumps({"Records": [{"Data": {"n": 1}, "PartitionKey": "p"}]})
    assert_error(client.put("/streams/no-such-stream/records", content=records, headers=AMZ_JSON), 404, 40401)


def test_unknown_partition_is_404_40402_and_nothing_is_written(client: httpx.Client, log: EmbeddedLog) -> None:
    records = [{"value": {"n": 1}, "partition": 0}, {"value": {"n": 2}, "partition": 7}]
    response = client.post(f"/topics/{TOPIC}", content=json.dumps({"records": records}), headers=KAFKA_JSON)
    assert_error(response, 404, 40402)
    assert log.end_offsets(TOPIC) == {0: 0}


# ---------------------------------------------------------------- 400 invalid names


@pytest.mark.parametrize(
    "name",
    ["..%2F..%2Fetc%2Fpasswd", "%2E%2E", "a..b", "x" * 250, "bad$name", "sp%20ace", "%C3%A9t%C3%A9", "a%00b"],
    ids=["traversal", "dotdot", "inner-dotdot", "too-long", "dollar", "space", "non-ascii", "nul"],
)
def test_invalid_topic_name_is_400_before_storage_is_touched(
    recorded: tuple[httpx.Client, RecordingLog], name: str
) -> None:
    http, recording = recorded
    recording.calls.clear()
    body = json.dumps({"records": [{"value": {"n": 1}}]})
    assert_error(http.post(f"/topics/{name}", content=body, headers=KAFKA_JSON), 400)
    assert_error(http.get(f"/topics/{name}"), 400)
    kinesis = json.dumps({"Data": {"n": 1}, "PartitionKey": "p"})
    assert_error(http.put(f"/streams/{name}/record", content=kinesis, headers=AMZ_JSON), 400)
    assert_error(http.post(f"/streams/{name}", content=json.dumps({"ShardCount": 1}), headers=AMZ_JSON), 400)
    assert_error(http.delete(f"/streams/{name}"), 400)
    assert recording.calls == []


def test_a_249_character_name_is_legal(client: httpx.Client) -> None:
    name = "x" * 249
    assert client.post(f"/streams/{name}").status_code == 200
    assert client.get(f"/topics/{name}").status_code == 200


# ---------------------------------------------------------------- 413 body too large


def test_body_over_10_mb_is_413_by_content_length(recorded: tuple[httpx.Client, RecordingLog]) -> None:
    http, recording = recorded
    recording.calls.clear()
    big = b'{"records": [{"value": "' + b"x" * MAX_BODY_BYTES + b'"}]}'
    assert_error(http.post(f"/topics/{TOPIC}", content=big, headers=KAFKA_JSON), 413)
    assert recording.calls == []


def test_body_over_10_mb_is_413_when_streamed_without_length(recorded: tuple[httpx.Client, RecordingLog]) -> None:
    http, recording = recorded
    recording.calls.clear()

    def chunks() -> Iterator[bytes]:
        yield b'{"records": [{"value": "'
        for _ in range(11):
            yield b"x" * (1024 * 1024)
        yield b'"}]}'

    response = http.post(f"/topics/{TOPIC}", content=chunks(), headers=KAFKA_JSON)
    assert_error(response, 413)
    assert recording.calls == []


# ---------------------------------------------------------------- 422 record too large


def test_record_over_1_mib_is_422_and_the_batch_is_all_or_nothing(client: httpx.Client, log: EmbeddedLog) -> None:
    big = "x" * MAX_RECORD_BYTES
    records = [{"value": {"n": 1}}, {"value": {"blob": big}}]
    body = assert_error(
        client.post(f"/topics/{TOPIC}", content=json.dumps({"records": records}), headers=KAFKA_JSON), 422
    )
    assert "records[1]" in body["message"]
    kinesis = json.dumps({"Data": {"blob": big}, "PartitionKey": "p"})
    assert_error(client.put(f"/streams/{STREAM}/record", content=kinesis, headers=AMZ_JSON), 422)
    assert log.end_offsets(TOPIC) == {0: 0}
    assert log.end_offsets(STREAM) == {0: 0}
    just_under = "x" * (MAX_RECORD_BYTES - 2 - 1000)
    fits = client.post(f"/topics/{TOPIC}", content=json.dumps({"records": [{"value": just_under}]}), headers=KAFKA_JSON)
    assert fits.status_code == 200


# ---------------------------------------------------------------- 503 / 429 backend


def test_backend_down_is_503_with_a_clear_message(client: httpx.Client, log: EmbeddedLog) -> None:
    log.close()  # the log the gateway writes to is gone
    response = client.post(f"/topics/{TOPIC}", content=json.dumps({"records": [{"value": 1}]}), headers=KAFKA_JSON)
    body = assert_error(response, 503)
    assert "event log unavailable" in body["message"] and "nothing was written" in body["message"]
    assert int(response.headers["Retry-After"]) >= 1
    kinesis = client.put(
        f"/streams/{STREAM}/record", content=json.dumps({"Data": 1, "PartitionKey": "p"}), headers=AMZ_JSON
    )
    assert_error(kinesis, 503)
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"


def test_overloaded_log_is_429_with_retry_after(client: httpx.Client, log: EmbeddedLog) -> None:
    """Real backpressure: the disk is held, appends queue up past the log's limit, the next one is refused."""
    log.max_pending_records = 10
    blocker = sqlite3.connect(str(log.path), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the log writer cannot commit meanwhile
    first: list[httpx.Response] = []
    try:
        body = json.dumps({"records": [{"value": {"n": i}} for i in range(8)]})
        waiting = threading.Thread(
            target=lambda: first.append(client.post(f"/topics/{TOPIC}", content=body, headers=KAFKA_JSON))
        )
        waiting.start()
        wait_until(lambda: log._pending_records == 8, timeout=30, what="the first batch queued")
        refused = client.post(f"/topics/{TOPIC}", content=body, headers=KAFKA_JSON)
        assert_error(refused, 429)
        assert int(refused.headers["Retry-After"]) >= 1
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    waiting.join(timeout=60)
    assert first[0].status_code == 200
    assert log.end_offsets(TOPIC) == {0: 8}


def test_in_flight_budget_refuses_with_429_before_reading_and_admits_a_lone_request(
    client: httpx.Client, app: FastAPI, log: EmbeddedLog
) -> None:
    """The gateway's own bound: while one request waits on a held disk, a second that would take the
    bytes in flight over PINPIPE_API_IN_FLIGHT_BYTES is refused at once (Kafka REST and Kinesis alike),
    nothing of it written; a request alone is admitted even when it is bigger than the budget."""
    body = json.dumps({"records": [{"value": {"n": i}} for i in range(8)]})
    app.state.budget.limit = len(body) // 2  # smaller than one body: only a lone request gets in
    blocker = sqlite3.connect(str(log.path), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the log writer cannot commit meanwhile
    first: list[httpx.Response] = []
    try:
        waiting = threading.Thread(
            target=lambda: first.append(client.post(f"/topics/{TOPIC}", content=body, headers=KAFKA_JSON))
        )
        waiting.start()
        wait_until(lambda: log._pending_records == 8, timeout=30, what="the first request waiting on the disk")
        assert app.state.budget.used == len(body)
        refused = client.post(f"/topics/{TOPIC}", content=body, headers=KAFKA_JSON)
        message = assert_error(refused, 429)["message"]
        assert "PINPIPE_API_IN_FLIGHT_BYTES" in message and "nothing was written" in message
        assert int(refused.headers["Retry-After"]) >= 1
        entry = json.dumps({"Records": [{"Data": {"n": 1}, "PartitionKey": "p"}] * 40})
        kinesis = client.put(f"/streams/{STREAM}/records", content=entry, headers=AMZ_JSON)
        assert_error(kinesis, 429)
        assert kinesis.json()["__type"] == "ProvisionedThroughputExceededException"
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    waiting.join(timeout=60)
    assert first[0].status_code == 200
    assert app.state.budget.used == 0 and app.state.budget.refused == 2
    assert log.end_offsets(TOPIC) == {0: 8} and log.end_offsets(STREAM) == {0: 0}
    alone = client.post(f"/topics/{TOPIC}", content=body, headers=KAFKA_JSON)  # over the budget, but alone
    assert alone.status_code == 200 and log.end_offsets(TOPIC) == {0: 16}


# ---------------------------------------------------------------- the process lives on


@pytest.mark.services
def test_real_gateway_survives_a_barrage_of_bad_input(gateway: GatewayURL) -> None:
    bad_requests: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("POST", f"/topics/{TOPIC}", b"\xff\xfe\x00garbage", KAFKA_JSON),
        ("POST", f"/topics/{TOPIC}", b"[]", KAFKA_JSON),
        ("POST", f"/topics/{TOPIC}", b'{"records": 5}', KAFKA_JSON),
        ("POST", f"/topics/{TOPIC}", b'{"records": [{"value": 1, "partition": "x"}]}', KAFKA_JSON),
        ("POST", f"/topics/{TOPIC}", b'{"records": [{"value": ' + b"[" * 100_000, KAFKA_JSON),
        ("POST", "/topics/..%2F..%2Froot", b"{}", KAFKA_JSON),
        ("PUT", f"/streams/{STREAM}/record", b'"just a string"', AMZ_JSON),
        ("PUT", f"/streams/{STREAM}/records", b'{"Records": [5]}', AMZ_JSON),
        ("POST", f"/streams/{STREAM}x", b'{"ShardCount": "many"}', AMZ_JSON),
        ("GET", "/no/such/route", b"", {}),
        ("DELETE", "/topics", b"", {}),
    ]
    with httpx.Client(base_url=gateway, timeout=30) as http:
        for method, path, content, headers in bad_requests:
            response = http.request(method, path, content=content, headers=headers)
            assert 400 <= response.status_code < 500, (method, path, response.status_code, response.text)
            assert "error_code" in response.json()
        good(http)
    assert gateway.proc.poll() is None
