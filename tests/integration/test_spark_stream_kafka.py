"""Structured Streaming from Apache Kafka (the seed's Databricks streaming notebook, on open-source Spark).

`pinpipe stream run --engine spark --spark-source kafka` reads the streams the gateway's Kinesis route
wrote to Kafka, cleans with the shared SQL, dedupes on ``ind`` against the tables inside Spark and
writes through delta-spark with ``txnAppId``/``txnVersion``. Its driver is SIGKILLed at seeded moments
while events flow (each moment a seeded number of new Delta commits, never a sleep), restarted from
its checkpoint, and finally drained with ``--until-idle``: every acknowledged ``ind`` once per table,
every bad record once in dead_letter, and no JVM left behind.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from pinpipe.settings import TABLES
from tests import services
from tests.integration.stream_flow import (
    bad_records,
    check_dead_letters_once,
    check_tables_hold_each_acknowledged_ind_once,
    current_settings,
    delta_commits,
    pinpipe,
    unique_prefix,
)
from tests.support.kafka import KafkaCluster
from tests.support.processes import PINPIPE, descendants

pytestmark = [pytest.mark.spark, pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(900)]

SEED = 20261201
KILLS = 2
FLOW_SECONDS = 35


@pytest.fixture
def on_kafka(home: Path, kafka: KafkaCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The streams on Apache Kafka (2 partitions each), before the gateway starts (it inherits the env)."""
    monkeypatch.setenv("PINPIPE_PREFIX", unique_prefix())
    monkeypatch.setenv("PINPIPE_PARTITIONS", "2")
    monkeypatch.setenv("PINPIPE_STREAM_LOG_URL", kafka.url)
    yield kafka.url


def test_driver_killed_mid_stream_restarts_from_its_checkpoint_every_ind_once(
    on_kafka: str, home: Path, gateway: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    pinpipe("source", "init", "--rows", "2500", "--seed", "21")
    settings = current_settings()
    emulator_log = open(tmp_path / "emulator.log", "wb")  # noqa: SIM115 - closed below
    emulator = subprocess.Popen(
        [PINPIPE, "emulate", "stream", "--rate", "60", "--duration", str(FLOW_SECONDS), "--seed", "8",
         "--batch-size", "20", "--api", gateway],
        stdout=emulator_log, stderr=subprocess.STDOUT, env=dict(os.environ),
    )  # fmt: skip
    job_args = [PINPIPE, "stream", "run", "--engine", "spark", "--spark-source", "kafka", "--max-batch-ms", "500"]
    posted_bad = 0
    jvms: list[psutil.Process] = []
    try:
        with httpx.Client(base_url=gateway, timeout=10) as client:
            for kill in range(KILLS):
                for stream, body in bad_records(settings, kill):
                    response = client.put(f"/streams/{stream}/record", json=body)
                    assert response.status_code == 200, response.text
                    posted_bad += 1
                target = delta_commits(home) + rng.randint(1, 3)
                with open(tmp_path / f"driver-{kill}.log", "wb") as out:
                    driver = subprocess.Popen(job_args, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))

                def progressed(driver: subprocess.Popen[bytes] = driver, target: int = target) -> bool:
                    if driver.poll() is not None:
                        raise AssertionError(f"the Spark stream exited by itself: {driver.returncode}")
                    return delta_commits(home) >= target

                try:
                    services.wait_until(progressed, timeout=240, what=f"Delta commits to {target}", interval=0.05)
                    jvms += descendants(driver.pid)
                finally:
                    driver.send_signal(signal.SIGKILL)
                    driver.wait(timeout=30)
                assert driver.returncode == -signal.SIGKILL
        assert emulator.wait(timeout=FLOW_SECONDS + 120) == 0, (tmp_path / "emulator.log").read_text()[-2000:]
    finally:
        if emulator.poll() is None:
            emulator.kill()
            emulator.wait()
        emulator_log.close()
    # The driver's JVM notices its Python parent is gone and exits: nothing keeps running unseen.
    _, alive = psutil.wait_procs(jvms, timeout=60)
    assert alive == [], f"JVMs left behind: {[p.pid for p in alive]}"

    done = pinpipe("stream", "run", "--engine", "spark", "--spark-source", "kafka", "--until-idle", timeout=600)
    assert "micro-batches" in done.stderr
    records = check_tables_hold_each_acknowledged_ind_once(settings)
    check_dead_letters_once(settings, records, posted_bad)
    assert sum(len(records[k]) for k in TABLES) > 3 * 1000  # the kills hit a moving stream
