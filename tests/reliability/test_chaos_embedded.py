"""Chaos on the whole embedded pipeline: SIGKILL the gateway, the sink and the stream job at seeded
moments under emulator load, restart each, then prove DESIGN.md's "Guarantees".

Processes (all real, on loopback): ``pinpipe api``, ``python -m pinpipe.sink run``, ``pinpipe stream
run``; the two emulator routes run in this process (threads) so each acknowledgement is recorded as
the gateway gave it: (topic or stream, partition, offset) → ind.

The schedule is seeded: which process dies next, and when — after a seeded number of new
acknowledgements (gateway), lake files (sink) or Delta commits (stream job), or a seeded delay from
the process start (start-up and recovery paths). After the kills the load stops, the processes stop
cleanly, ``sink run --until-idle`` and ``stream run --until-idle`` drain, and then:

- lake = log, per partition: the offset sets are equal, each value at its offset (so nothing lost,
  nothing doubled, nothing stray), and every acknowledged (topic, partition, offset) holds its ind;
- no temp file is visible to a lake reader;
- the stream tables hold every distinct ind of the stream log exactly once (cleaned), a superset of
  the acknowledged inds;
- no process the test started is left, and the test has no new child process.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from pinpipe.lake.store import open_lake
from pinpipe.log import TopicPartition
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import TABLES, get_settings
from tests.integration.stream_flow import (
    check_tables_hold_each_acknowledged_ind_once,
    delta_commits,
    pinpipe,
    table_rows,
)
from tests.reliability.chaos import Load, Service, await_moment, log_contents, pinpipe_env
from tests.services import wait_until
from tests.sink.helpers import assert_exactly_once, assert_no_temps, lake_files, lake_records
from tests.support.acks import ind_of
from tests.support.gateway import Gateway
from tests.support.processes import PINPIPE, assert_none_left, child_pids

pytestmark = [pytest.mark.slow, pytest.mark.services]

SEED = 20261010
KILLS_EACH = 10  # 30 kills in all
SINK_ARGV = [sys.executable, "-m", "pinpipe.sink", "run", "--flush-size", "500", "--idle-flush-ms", "50"]
STREAM_ARGV = [PINPIPE, "stream", "run", "--quiet", "--max-batch-ms", "100", "--max-batch-records", "2000"]


def kill_gateway(rng: random.Random, gateway: Gateway, loads: list[Load]) -> None:
    """After a seeded number of new acknowledgements (or a seeded delay), SIGKILL, then restart."""
    if rng.random() < 0.25:
        await_moment(rng.uniform(0.0, 0.8), lambda: gateway.proc is not None and gateway.proc.poll() is None)
    else:
        target = sum(x.acknowledged for x in loads) + rng.randint(100, 1500)
        wait_until(lambda: sum(x.acknowledged for x in loads) >= target, timeout=120, what=f"{target} acks")
    gateway.kill()
    gateway.start()


def kill_sink(rng: random.Random, sink: Service, lake: Path) -> None:
    if rng.random() < 0.3:
        await_moment(rng.uniform(0.05, 1.5), sink.alive)
    else:
        target = (lake_files(lake) if lake.exists() else 0) + rng.randint(1, 8)
        wait_until(lambda: (lake.exists() and lake_files(lake) >= target) or not sink.alive(), timeout=120,
                   what=f"{target} lake files")  # fmt: skip
        await_moment(rng.uniform(0, 0.03), sink.alive)
    sink.kill()
    sink.start()


def kill_stream(rng: random.Random, job: Service, home: Path) -> None:
    wanted = rng.choice([0, 1, 1, 2, 3])
    if wanted == 0:
        await_moment(rng.uniform(0.05, 2.0), job.alive)
    else:
        target = delta_commits(home) + wanted
        wait_until(lambda: delta_commits(home) >= target or not job.alive(), timeout=120,
                   what=f"{wanted} commits")  # fmt: skip
    job.kill()
    job.start()


@pytest.mark.timeout(420)
def test_sigkill_gateway_sink_and_stream_job_at_seeded_moments(home: Path, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    before = child_pids()
    pinpipe("source", "init", "--rows", "3000", "--seed", "11")
    settings = get_settings()
    env = pinpipe_env(home)
    logs = tmp_path / "logs"
    gateway = Gateway(home)
    sink = Service("sink", SINK_ARGV, env, logs)
    job = Service("stream", STREAM_ARGV, env, logs)
    gateway.start()
    gateway_pids = [gateway.pid]
    sink.start()
    job.start()
    loads = [
        Load("batch", str(settings.source_url), gateway.url, seed=100, rate=250, batch_size=50),
        Load("stream", str(settings.source_url), gateway.url, seed=200, rate=120, batch_size=20),
    ]
    for load in loads:
        load.start()
    schedule = ["gateway", "sink", "stream"] * KILLS_EACH
    rng.shuffle(schedule)
    kills: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    try:
        for target in schedule:
            for load in loads:
                assert load.error is None and load.is_alive(), load.error
            began = time.monotonic()
            if target == "gateway":
                kill_gateway(rng, gateway, loads)
                gateway_pids.append(gateway.pid)
            elif target == "sink":
                kill_sink(rng, sink, home / "lake")
            else:
                kill_stream(rng, job, home)
            kills[target] += 1
            spent[target] += time.monotonic() - began
        # A job restarted last may still be importing, before its SIGTERM handler is up: the graceful
        # stop below is asked of a running job (one more commit while the loads still send).
        settled = delta_commits(home)
        wait_until(lambda: delta_commits(home) > settled or not job.alive(), timeout=120,
                   what="the stream job's next commit")  # fmt: skip
    finally:
        for load in loads:
            load.finish()
        gateway.stop()
        statuses = {s.name: s.terminate() for s in (sink, job)}
    assert statuses == {"sink": 0, "stream": 0}, [sink.tail(), job.tail()]
    total_kills = sum(kills.values())
    assert total_kills >= 30 and set(kills) == {"gateway", "sink", "stream"}

    pinpipe("sink", "run", "--until-idle", "--flush-size", "500")
    pinpipe("stream", "run", "--until-idle", "--quiet")

    # Lake = log, per partition (values at their offsets); acknowledged positions hold their ind.
    log = EmbeddedLog(str(settings.log_url), settings)
    try:
        topics = [settings.topic(k) for k in TABLES]
        in_log = log_contents(log, topics)
    finally:
        log.close()
    lake = open_lake(str(home / "lake"))
    assert_no_temps(lake)
    assert_exactly_once(lake, in_log)
    in_lake = lake_records(lake)
    batch_acks = loads[0].acks
    assert batch_acks.duplicates == 0, "the gateway acknowledged one position twice"
    for (topic, partition, offset), ind in batch_acks.acked.items():
        got = in_lake.get(TopicPartition(topic, partition), {}).get(offset)
        assert got is not None and ind_of(got) == ind, f"acknowledged {topic}[{partition}]@{offset} (ind {ind})"

    # Stream tables: each ind of the stream log once; the acknowledged ones all there.
    check_tables_hold_each_acknowledged_ind_once(settings)
    stream_acks = loads[1].acks
    assert stream_acks.duplicates == 0
    for kind in TABLES:
        stream = settings.stream(kind)
        acked = {ind for (s, _, _), ind in stream_acks.acked.items() if s == stream}
        in_table = {row["ind"] for row in table_rows(settings, f"stream/{kind}")}
        assert acked <= in_table, f"{kind}: {len(acked - in_table)} acknowledged inds missing"

    assert_none_left([*gateway_pids, *sink.pids, *job.pids], before)

    acked_batch, acked_stream = len(batch_acks.acked), len(stream_acks.acked)
    lake_total = sum(len(v) for v in in_log.values())
    failed = sum(s.records_failed for load in loads for s in load.summaries)
    resent = sum(s.records_resent_unknown for load in loads for s in load.summaries)
    report = {
        "kills": dict(kills),
        "total_kills": total_kills,
        "acked_batch_records": acked_batch,
        "lake_records": lake_total,
        "acked_stream_records": acked_stream,
        "stream_rows": {k: len(table_rows(settings, f"stream/{k}")) for k in TABLES},
        "records_failed_after_retries": failed,
        "emulator_errors": dict(sum((Counter(s.errors) for x in loads for s in x.summaries), Counter())),
        "seconds_per_target": {k: round(v, 1) for k, v in spent.items()},
        "records_resent_unknown_outcome": resent,
        "lost": 0,
        "duplicated": 0,
    }
    print("chaos:", orjson.dumps(report).decode())
    (tmp_path / "chaos.json").write_bytes(orjson.dumps(report))
    assert acked_batch > 10_000 and acked_stream > 5_000
