"""Chaos on the Kafka backend (Apache Kafka): two sink workers in one consumer group; one of them is
SIGKILLed at seeded moments of observed progress while the emulators post through the gateway, its
partitions move to the survivor (observed in the workers' own "sink assigned:" lines), and it is
restarted. The stream job on the same broker is SIGKILLed and restarted in the same rounds: it is one
member of its group by design (it keeps the tables' ``ind`` set in memory and fences any second
writer: a second job on one warehouse is refused at start, "another stream job is running …"), so its
partitions go back to the restarted member. Afterwards, after clean ``--until-idle`` drains: lake =
log per partition, every acknowledged position holds its ind, the stream tables hold each ind of the
log once, and no process is left.

Group sessions are short here (6 s, ``KAFKA_TEST_ENV``) so a SIGKILLed member is expired in seconds,
not after librdkafka's 45 s; everything else is Apache Kafka's and librdkafka's defaults. (On Tansu
0.6.0 this test needed a broker of its own and rolling stops: its coordinator kept a leader that left
mid-rebalance. Apache Kafka needs neither: the workers stop at once, on the session's broker.)
"""

from __future__ import annotations

import random
import re
import signal
import sys
from pathlib import Path

import orjson
import pytest

from pinpipe.settings import TABLES, get_settings
from tests import services
from tests.integration.stream_flow import (
    check_tables_hold_each_acknowledged_ind_once,
    delta_commits,
    pinpipe,
    unique_prefix,
)
from tests.reliability.chaos import Load, Service, check_lake_holds_each_acknowledged_record_once, pinpipe_env
from tests.services import wait_until
from tests.support.gateway import Gateway
from tests.support.kafka import KafkaCluster
from tests.support.processes import PINPIPE, assert_none_left, child_pids

pytestmark = [pytest.mark.slow, pytest.mark.services]

SEED = 20261011
ROUNDS = 2  # per run: kill a sink worker (the survivor takes everything) and the stream job, restart both
FAST_GROUPS = services.KAFKA_TEST_ENV
PARTITIONS = 4


def assigned(service: Service) -> set[tuple[str, int]]:
    """(topic, partition) in the latest "sink assigned:" message of the worker's current run (the
    console wraps long messages, so the message runs up to the next "sink " line)."""
    text = service.tail_all()
    at = text.rfind("sink assigned:")
    if at < 0:
        return set()
    message = text[at:].split("\nsink ", 1)[0]
    return {(topic, int(p)) for topic, parts in re.findall(r"(\S+)\[([\d,]+)\]", message) for p in parts.split(",")}


class Worker(Service):
    def tail_all(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.mark.kafka_chaos
@pytest.mark.timeout(480)
def test_kafka_group_members_killed_partitions_move_nothing_lost_or_doubled(
    home: Path, tmp_path: Path, kafka: KafkaCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(SEED)
    before = child_pids()
    prefix = unique_prefix()
    extra = {"PINPIPE_PREFIX": prefix, "PINPIPE_LOG_URL": kafka.url, "PINPIPE_PARTITIONS": str(PARTITIONS),
             **FAST_GROUPS}  # fmt: skip
    for key, val in extra.items():
        monkeypatch.setenv(key, val)
    pinpipe("source", "init", "--rows", "2000", "--seed", "12")
    settings = get_settings()
    env = pinpipe_env(home, **extra)
    logs = tmp_path / "logs"
    gateway = Gateway(home, base_env=env)
    gateway.start()
    topics = {settings.topic(k) for k in TABLES}
    everything = {(t, p) for t in topics for p in range(PARTITIONS)}
    sink_argv = [sys.executable, "-m", "pinpipe.sink", "run", "--flush-size", "300", "--idle-flush-ms", "200"]
    sinks = [Worker(f"sink{i}", sink_argv, env, logs) for i in range(2)]
    stream_argv = [PINPIPE, "stream", "run", "--quiet", "--max-batch-ms", "200"]
    jobs = [Service("stream", stream_argv, env, logs)]
    for s in [*sinks, *jobs]:
        s.start()
    loads = [
        Load("batch", str(settings.source_url), gateway.url, seed=300, rate=150, batch_size=50, prefix=prefix),
        Load("stream", str(settings.source_url), gateway.url, seed=400, rate=80, batch_size=20, prefix=prefix),
    ]
    for load in loads:
        load.start()
    moves = 0
    try:

        def shared() -> bool:
            a, b = (assigned(s) for s in sinks)
            return bool(a) and bool(b) and not (a & b) and a | b == everything

        for _ in range(ROUNDS):
            wait_until(shared, timeout=120, what="two sink workers sharing the partitions")
            victim, survivor = rng.sample(sinks, 2)
            target = sum(x.acknowledged for x in loads) + rng.randint(200, 1500)
            wait_until(lambda t=target: sum(x.acknowledged for x in loads) >= t, timeout=120, what="acks")
            victim.kill()
            wait_until(lambda s=survivor: assigned(s) == everything, timeout=120, what="the survivor takes all")
            moves += 1
            victim.start()

            target = delta_commits(home) + rng.randint(1, 4)
            wait_until(lambda t=target: delta_commits(home) >= t, timeout=120, what="stream commits")
            jobs[0].kill()
            jobs[0].start()
            for load in loads:
                assert load.error is None and load.is_alive(), load.error
        wait_until(shared, timeout=120, what="the restarted worker back in the group")
        # Likewise the restarted stream job: its first commit shows it has joined before it is stopped.
        target = delta_commits(home) + 1
        wait_until(lambda t=target: delta_commits(home) >= t, timeout=120, what="the restarted stream job committing")
    finally:
        for load in loads:
            load.finish()
        gateway.stop()
        for service in [*jobs, *sinks]:  # all at once, as a deployment stops
            if service.alive():
                assert service.proc is not None
                service.proc.send_signal(signal.SIGTERM)
        statuses = {s.name: s.terminate(signalled=True) for s in [*jobs, *sinks]}
    assert set(statuses.values()) == {0}, {s.name: s.tail() for s in [*sinks, *jobs]}
    kills = sum(s.kills for s in [*sinks, *jobs])
    assert kills == 2 * ROUNDS and moves == ROUNDS

    pinpipe("sink", "run", "--until-idle", "--flush-size", "300")
    pinpipe("stream", "run", "--until-idle", "--quiet")

    batch_acks = loads[0].acks
    in_log = check_lake_holds_each_acknowledged_record_once(settings, sorted(topics), batch_acks, home / "lake")
    check_tables_hold_each_acknowledged_ind_once(settings)
    assert_none_left([*gateway_pids(gateway), *(p for s in [*sinks, *jobs] for p in s.pids)], before)
    report = {"kills": kills, "partition_moves_observed": moves, "acked_batch": len(batch_acks.acked),
              "lake_records": sum(len(v) for v in in_log.values()), "acked_stream": len(loads[1].acks.acked),
              "lost": 0, "duplicated": 0}  # fmt: skip
    print("kafka chaos:", orjson.dumps(report).decode())


def gateway_pids(gateway: Gateway) -> list[int]:
    return [gateway.proc.pid] if gateway.proc is not None else []
