"""Kafka REST Proxy v2 routes with the seed client's exact bodies; acknowledged = readable, in order."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
import requests

from pinpipe.api.appending import append
from pinpipe.log import Appended, OutRecord, TopicPartition, capabilities_of
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings, get_settings
from pinpipe.source.generator import CANONICAL_GEO, CANONICAL_PIN
from tests.api.conftest import KAFKA_JSON, read_back
from tests.conftest import GatewayURL

PIN_ROW = CANONICAL_PIN
GEO_ROW = CANONICAL_GEO


def seed_body(row: dict[str, object]) -> str:
    """Exactly what the seed's batch emulator sent."""
    return json.dumps({"records": [{"value": row}]}, default=str)


def test_seed_client_body_is_acknowledged_and_reads_back(
    client: httpx.Client, log: EmbeddedLog, settings: Settings
) -> None:
    topic = settings.topic("geo")
    response = client.post(f"/topics/{topic}", content=seed_body(GEO_ROW), headers=KAFKA_JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.kafka.v2+json"
    body = response.json()
    assert body == {
        "key_schema_id": None,
        "value_schema_id": None,
        "offsets": [{"partition": 0, "offset": 0, "error_code": None, "error": None}],
    }
    stored = read_back(log, topic)
    assert json.loads(stored[(0, 0)]) == {**GEO_ROW, "timestamp": "2020-08-28 03:52:47"}


def test_batches_are_acknowledged_in_order_with_the_offsets_read_back(
    client: httpx.Client, log: EmbeddedLog, settings: Settings
) -> None:
    topic = settings.topic("pin")
    sent: dict[tuple[int, int], dict[str, object]] = {}
    for batch in range(3):
        rows = [{**PIN_ROW, "index": batch * 100 + i} for i in range(50)]
        body = json.dumps({"records": [{"value": r} for r in rows]})
        response = client.post(f"/topics/{topic}", content=body, headers=KAFKA_JSON)
        assert response.status_code == 200
        offsets = response.json()["offsets"]
        assert len(offsets) == 50
        positions = [(o["partition"], o["offset"]) for o in offsets]
        assert positions == [(0, batch * 50 + i) for i in range(50)]
        sent.update(zip(positions, rows, strict=True))
    stored = read_back(log, topic)
    assert {pos: json.loads(value) for pos, value in stored.items()} == sent


def test_key_and_partition_are_honoured(make_client: object, home: Path) -> None:
    http = make_client(partitions=4)
    body = {
        "records": [
            {"value": {"n": 1}, "partition": 2},
            {"value": {"n": 2}, "key": "user-7"},
            {"value": {"n": 3}, "key": "user-7"},
        ]
    }
    response = http.post("/topics/pinterest.user", content=json.dumps(body), headers=KAFKA_JSON)
    assert response.status_code == 200
    offsets = response.json()["offsets"]
    assert offsets[0]["partition"] == 2
    assert offsets[1]["partition"] == offsets[2]["partition"]
    assert offsets[2]["offset"] == offsets[1]["offset"] + 1
    assert http.get("/topics/pinterest.user").json()["partitions"][3]["partition"] == 3


def test_plain_application_json_is_accepted(client: httpx.Client, log: EmbeddedLog) -> None:
    response = client.post(
        "/topics/pinterest.pin", content=seed_body(PIN_ROW), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert log.end_offsets("pinterest.pin") == {0: 1}


def test_pinpipe_topics_exist_at_start_up_and_are_listed(client: httpx.Client) -> None:
    topics = client.get("/topics").json()
    assert {"pinterest.pin", "pinterest.geo", "pinterest.user"} <= set(topics)
    info = client.get("/topics/pinterest.pin").json()
    assert info["name"] == "pinterest.pin"
    assert [p["partition"] for p in info["partitions"]] == [0]


def test_concurrent_producers_get_unique_offsets_that_read_back(client: httpx.Client, log: EmbeddedLog) -> None:
    """Requests in flight at once share group commits; every acknowledged row is where it was said to be."""
    acked: dict[tuple[int, int], int] = {}
    lock = threading.Lock()
    failures: list[str] = []

    def producer(worker: int) -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=30) as own:
            for i in range(20):
                n = worker * 1000 + i
                response = own.post("/topics/pinterest.pin", content=seed_body({"n": n}), headers=KAFKA_JSON)
                if response.status_code != 200:
                    failures.append(response.text)
                    continue
                o = response.json()["offsets"][0]
                with lock:
                    acked[(o["partition"], o["offset"])] = n

    threads = [threading.Thread(target=producer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures
    assert sorted(acked) == [(0, i) for i in range(160)]
    stored = read_back(log, "pinterest.pin")
    assert {pos: json.loads(v)["n"] for pos, v in stored.items()} == acked


class BlockingOnly:
    """The embedded log declared as Kafka declares itself: ``append`` only, whatever else it has."""

    url = "test:"
    capabilities = capabilities_of("kafka://127.0.0.1:9092")

    def __init__(self, log: EmbeddedLog) -> None:
        self.log = log
        self.threads: list[threading.Thread] = []

    def append(self, topic: str, records: Sequence[OutRecord]) -> list[Appended]:
        self.threads.append(threading.current_thread())
        return self.log.append(topic, records)

    def submit(self, topic: str, records: Sequence[OutRecord]) -> None:
        raise AssertionError("the capabilities say there is no submit")


def test_appends_are_awaited_on_the_loop_only_where_the_log_can_submit(
    log: EmbeddedLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capability decides, not the attribute: a log without it blocks a threadpool thread."""
    log.create_topic("pinterest.pin")
    blocking = BlockingOnly(log)
    done = asyncio.run(append(blocking, "pinterest.pin", [OutRecord(b"1")]))  # type: ignore[arg-type]  # a stand-in
    assert [a.offset for a in done] == [0]
    assert blocking.threads and blocking.threads[0] is not threading.main_thread()

    def no_blocking_append(topic: str, records: Sequence[OutRecord]) -> list[Appended]:
        raise AssertionError("a log that can submit is awaited, not appended to in a thread")

    monkeypatch.setattr(log, "append", no_blocking_append)
    assert [a.offset for a in asyncio.run(append(log, "pinterest.pin", [OutRecord(b"2")]))] == [1]


@pytest.mark.services
def test_real_gateway_process_seed_client_and_graceful_sigterm(gateway: GatewayURL, home: Path) -> None:
    """`pinpipe api` as a subprocess, the seed's `requests` call, then SIGTERM: all acked data is durable."""
    topic = "pinterest.pin"
    acked = []
    for i in range(25):
        response = requests.post(
            f"{gateway}/topics/{topic}",
            data=json.dumps({"records": [{"value": {**PIN_ROW, "index": i}}]}, default=str),
            headers={"Content-Type": "application/vnd.kafka.json.v2+json"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        acked.append(response.json()["offsets"][0]["offset"])
    assert acked == list(range(25))
    metrics = requests.get(f"{gateway}/metrics", timeout=30).text
    assert 'pinpipe_gateway_records_accepted_total{kind="topic",name="pinterest.pin"} 25.0' in metrics

    # Stop it the way a service manager does, then read the file it wrote.
    gateway.proc.send_signal(signal.SIGTERM)
    gateway.proc.wait(timeout=30)
    settings = get_settings()
    log = EmbeddedLog(settings.log_url or "")
    try:
        with log.consumer("after-stop", [topic]) as consumer:
            records = consumer.poll(max_records=100, timeout_s=0)
        assert [r.offset for r in records] == acked
        assert [json.loads(r.value)["index"] for r in records] == list(range(25))
        assert consumer.assignment() == {TopicPartition(topic, 0)}
    finally:
        log.close()
