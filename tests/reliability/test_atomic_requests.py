"""A request's records are all in the log or none (issue 20, item 3), while the gateway and a broker
are SIGKILLed mid-request: Apache Kafka, the session's 3-node cluster, the gateway's transactions on.

Clients post requests of :data:`RECORDS` records spread over 4 partitions by key, each request under
an id of its own, all the time. At seeded moments, with requests in flight: the gateway is SIGKILLed
and started again (its ``transactional.id`` kept, so the new process aborts what the old one left
open), and the leader of a seeded partition is SIGKILLed and started again.

Then every record a ``read_committed`` reader finds is grouped by request: each request is there with
all its records, once, or not at all; each request answered 200 is there at the offsets it was
answered. Requests the gateway never answered (cut by its kill) or answered 503 may be either.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest

from pinpipe.settings import get_settings
from tests.integration.stream_flow import unique_prefix
from tests.reliability.chaos import pinpipe_env
from tests.services import wait_until
from tests.support.acks import read_all
from tests.support.gateway import Gateway
from tests.support.kafka import KafkaCluster, partition_state

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.kafka_chaos]

SEED = 20261204
RECORDS = 200
PARTITIONS = 4
CLIENTS = 4
HEADERS = {"content-type": "application/vnd.kafka.json.v2+json"}


@dataclass
class Posters:
    """Clients posting requests under ids of their own until stopped, each outcome noted by id."""

    url: str
    topic: str
    answered: dict[int, int] = field(default_factory=dict)  # id -> HTTP status
    offsets: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # id -> (partition, offset) per record
    cut: set[int] = field(default_factory=set)  # sent, never answered: the gateway died with it
    in_flight: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=itertools.count)

    def ok(self) -> int:
        return sum(1 for status in self.answered.values() if status == 200)

    def run(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                with self.lock:
                    rid = next(self.ids)
                    self.in_flight += 1
                body = {"records": [{"key": f"{rid}-{i}", "value": {"req": rid, "i": i}} for i in range(RECORDS)]}
                try:
                    answer = client.post(f"{self.url}/topics/{self.topic}", content=orjson.dumps(body), headers=HEADERS)
                except httpx.ConnectError:  # the gateway is down: the request never reached it
                    self.stop.wait(0.05)  # a client's pause before it tries again, not a synchronisation
                except httpx.TransportError:
                    self.cut.add(rid)
                else:
                    self.answered[rid] = answer.status_code
                    if answer.status_code == 200:
                        self.offsets[rid] = [(o["partition"], o["offset"]) for o in answer.json()["offsets"]]
                finally:
                    with self.lock:
                        self.in_flight -= 1


@pytest.mark.timeout(420)
def test_no_request_is_partly_in_the_log_after_gateway_and_broker_kills(
    home: Path, tmp_path: Path, kafka_cluster: KafkaCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(SEED)
    prefix = unique_prefix()
    extra = {
        "PINPIPE_PREFIX": prefix,
        "PINPIPE_LOG_URL": kafka_cluster.url,
        "PINPIPE_PARTITIONS": str(PARTITIONS),
        "PINPIPE_KAFKA__TRANSACTIONAL_ID": f"atomic-{prefix}",
    }
    for key, val in extra.items():
        monkeypatch.setenv(key, val)
    settings = get_settings()
    assert settings.kafka_transactions  # the default
    topic = settings.topic("pin")
    gateway = Gateway(home, base_env=pinpipe_env(home, **extra), log_path=tmp_path / "gateway.log").start()
    posters = Posters(gateway.url, topic)
    clients = [threading.Thread(target=posters.run, name=f"poster-{i}") for i in range(CLIENTS)]
    for client in clients:
        client.start()
    try:

        def progress(more: int) -> None:
            target = posters.ok() + more
            wait_until(lambda: posters.ok() >= target, timeout=120, what=f"{more} more requests answered 200")

        for _ in range(2):
            progress(rng.randint(10, 40))
            wait_until(lambda: posters.in_flight >= 2, timeout=30, what="requests in flight")
            gateway.kill()
            gateway.start()

            progress(rng.randint(10, 40))
            leaders = partition_state(kafka_cluster, [topic])
            victim = leaders[topic, rng.randrange(PARTITIONS)][0]
            wait_until(lambda: posters.in_flight >= 2, timeout=30, what="requests in flight")
            kafka_cluster.kill(victim)
            progress(rng.randint(5, 20))  # on the other two brokers
            kafka_cluster.start(victim)
            kafka_cluster.wait_ready(3)
    finally:
        posters.stop.set()
        for client in clients:
            client.join(timeout=90)
        for node in kafka_cluster.nodes:  # the session's cluster stays whole for the tests after this one
            if not node.alive():
                kafka_cluster.start(node.node_id)
        kafka_cluster.wait_ready(3)
        gateway.stop()
    assert posters.cut, "no request was cut by the gateway's kills: nothing was tried mid-request"

    found = read_all(str(settings.log_url), settings, [topic], RECORDS * posters.ok())
    by_request: dict[int, list[tuple[int, int, int]]] = {}
    for record in found:
        value = orjson.loads(record.value)
        by_request.setdefault(value["req"], []).append((value["i"], record.partition, record.offset))
    whole = Counter(range(RECORDS))
    partial = {rid: len(rows) for rid, rows in by_request.items() if Counter(i for i, _, _ in rows) != whole}
    assert not partial, f"requests partly in the log, or twice: {partial}"
    for rid, status in posters.answered.items():
        if status == 200:
            got = [(p, o) for _, p, o in sorted(by_request.get(rid, []))]
            assert got == posters.offsets[rid], f"request {rid} answered 200 is not in the log at its offsets"
    report = {
        "requests_answered_200": posters.ok(),
        "answered_503": sum(1 for s in posters.answered.values() if s == 503),
        "cut_mid_request": len(posters.cut),
        "cut_in_log": len(posters.cut & by_request.keys()),
        "requests_in_log": len(by_request),
        "partial": 0,
    }
    print("atomic requests:", orjson.dumps(report).decode())
