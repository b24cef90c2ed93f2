"""Broker failures under load (issue 20, items 1 and 2): a 3-node Apache Kafka cluster (replication 3,
``min.insync.replicas`` 2, the brokers' defaults here), the emulator posting through the gateway.

- Rounds of one broker SIGKILLed at a seeded moment of observed progress — the leader of a seeded
  pinpipe partition, so leadership has to move — acknowledgements continuing on the other two, the
  broker restarted, and the next round only once every replica is back in sync.
- Then every broker SIGKILLed at once: a produce gets 503 with ``Retry-After`` within the gateway's
  bound (the producer's ``delivery.timeout.ms`` + 5 s), never a 200; ``/health`` says the log is down;
  the emulator backs off (it keeps running, acknowledging nothing); the cluster restarted, it resumes.

Afterwards a ``sink run --until-idle`` drain: every acknowledged record is in the lake at its
acknowledged offset, the lake equals the log per partition record for record, nothing twice. The
gateway appends in transactions, so a request answered 503 left nothing readable, unless its commit's
outcome was unknown when it gave up (the emulator posts it again: the tables dedupe on ``ind``).

The test runs on the session's 3-node cluster and leaves all three brokers running, in sync.
"""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import orjson
import pytest

from pinpipe.log.kafka import DEFAULT_DELIVERY_TIMEOUT_MS
from pinpipe.settings import TABLES, get_settings
from tests.integration.stream_flow import pinpipe, unique_prefix
from tests.reliability.chaos import Load, check_lake_holds_each_acknowledged_record_once, pinpipe_env
from tests.services import wait_until
from tests.support.gateway import Gateway
from tests.support.kafka import KafkaCluster, partition_state

pytestmark = [pytest.mark.slow, pytest.mark.services]

SEED = 20261202
ROUNDS = 2
PARTITIONS = 3
#: The longest a produce may take while no broker answers: the gateway waits out the producer's
#: delivery timeout (+5 s for its delivery report), then answers 503.
PRODUCE_BOUND_S = DEFAULT_DELIVERY_TIMEOUT_MS / 1000 + 5.0


def all_in_sync(cluster: KafkaCluster, topics: list[str]) -> bool:
    state = partition_state(cluster, topics)
    return len(state) == len(topics) * PARTITIONS and all(leader > 0 and isr == 3 for leader, isr in state.values())


def produce_once(gateway_url: str, topic: str) -> httpx.Response:
    body = {"records": [{"value": {"index": -1, "probe": True}}]}
    headers = {"content-type": "application/vnd.kafka.json.v2+json"}
    return httpx.post(f"{gateway_url}/topics/{topic}", json=body, headers=headers, timeout=PRODUCE_BOUND_S + 5)


@pytest.mark.kafka_chaos
@pytest.mark.timeout(600)
def test_brokers_killed_under_load_lose_and_double_nothing_acknowledged(
    home: Path, tmp_path: Path, kafka_cluster: KafkaCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(SEED)
    prefix = unique_prefix()
    extra = {"PINPIPE_PREFIX": prefix, "PINPIPE_LOG_URL": kafka_cluster.url, "PINPIPE_PARTITIONS": str(PARTITIONS)}
    for key, val in extra.items():
        monkeypatch.setenv(key, val)
    pinpipe("source", "init", "--rows", "2000", "--seed", "13")
    settings = get_settings()
    topics = sorted(settings.topic(k) for k in TABLES)
    gateway = Gateway(home, base_env=pinpipe_env(home, **extra))
    gateway.start()
    # Enough retries to outlast the whole cluster's restart: 503s come back at once with Retry-After 1 s.
    load = Load("batch", str(settings.source_url), gateway.url, seed=500, rate=150, batch_size=50, prefix=prefix,
                attempts=200)  # fmt: skip
    load.start()
    kills = 0
    try:
        wait_until(lambda: all_in_sync(kafka_cluster, topics), timeout=60, what="pinpipe's topics fully replicated")
        for _ in range(ROUNDS):
            target = load.acknowledged + rng.randint(200, 1200)
            wait_until(lambda t=target: load.acknowledged >= t, timeout=120, what="acknowledgements")
            state = partition_state(kafka_cluster, topics)
            victim_tp = rng.choice(sorted(state))
            victim = state[victim_tp][0]
            kafka_cluster.kill(victim)
            kills += 1

            def moved(tp: tuple[str, int] = victim_tp, dead: int = victim) -> bool:
                leader = partition_state(kafka_cluster, topics).get(tp, (-1, 0))[0]
                return leader not in (dead, -1)

            wait_until(moved, timeout=60, what=f"leadership of {victim_tp} moving off broker {victim}")
            # Two replicas of three satisfy min.insync.replicas: acknowledgements go on.
            target = load.acknowledged + rng.randint(100, 600)
            wait_until(lambda t=target: load.acknowledged >= t, timeout=120, what="acknowledgements on two brokers")
            kafka_cluster.start(victim)
            kafka_cluster.wait_ready(3)
            wait_until(lambda: all_in_sync(kafka_cluster, topics), timeout=120, what="broker back in every ISR")
            assert load.error is None and load.is_alive(), load.error

        # Every broker at once.
        for node in kafka_cluster.nodes:
            kafka_cluster.kill(node.node_id)
        refused = produce_once(gateway.url, topics[0])
        assert refused.status_code == 503, refused.text
        assert float(refused.headers["retry-after"]) > 0
        health = httpx.get(f"{gateway.url}/health", timeout=10)
        assert health.status_code == 503 and health.json()["status"] == "unavailable", health.text
        assert "could not list topics" in health.json()["error"], health.text
        again = produce_once(gateway.url, topics[0])  # the watch knows now: refused without waiting on Kafka
        assert again.status_code == 503 and "its event log is not" in again.text, again.text
        assert load.error is None and load.is_alive(), load.error  # backing off, not given up

        for node in kafka_cluster.nodes:
            kafka_cluster.start(node.node_id)
        kafka_cluster.wait_ready(3)
        target = load.acknowledged + 500
        wait_until(lambda: load.acknowledged >= target, timeout=180, what="the emulator resuming")
        wait_until(lambda: all_in_sync(kafka_cluster, topics), timeout=120, what="every replica back in sync")
    finally:
        for node in kafka_cluster.nodes:  # the session's cluster stays whole for the tests after this one
            if not node.alive():
                kafka_cluster.start(node.node_id)
        kafka_cluster.wait_ready(3)
        load.finish()
        gateway.stop()

    pinpipe("sink", "run", "--until-idle", "--flush-size", "500")
    acks = load.acks
    in_log = check_lake_holds_each_acknowledged_record_once(settings, topics, acks, home / "lake")
    report = {"broker_kills": kills + len(kafka_cluster.nodes), "leaders_killed": kills,
              "acknowledged": len(acks.acked), "in_log": sum(len(v) for v in in_log.values()), "lost": 0,
              "duplicated": 0}  # fmt: skip
    print("broker chaos:", orjson.dumps(report).decode())
