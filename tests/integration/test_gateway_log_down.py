"""A gateway whose Kafka is down: it listens at once, ``/health`` says the log is down, produce answers
503 with ``Retry-After`` (nothing acknowledged), the emulator's message blames the log and not the
gateway; once the broker is up the gateway creates its topics and acknowledges, without a restart."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests import services
from tests.support import kafka as kafka_support
from tests.support.gateway import Gateway
from tests.support.processes import PINPIPE

pytestmark = [pytest.mark.services, pytest.mark.timeout(240)]

KAFKA_JSON = {"Content-Type": "application/vnd.kafka.json.v2+json"}
ONE_RECORD = json.dumps({"records": [{"value": {"ind": 1}}]})


def emulate(env: dict[str, str], url: str) -> subprocess.CompletedProcess[str]:
    argv = [PINPIPE, "emulate", "batch", "--events", "3", "--attempts", "2", "--api", url]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def test_gateway_up_with_its_log_down_says_so_then_recovers(home: Path, tmp_path: Path) -> None:
    cluster = kafka_support.new_cluster(tmp_path / "kafka", size=1)  # formatted, not started: down
    env = {**os.environ, "PINPIPE_LOG_URL": cluster.url}
    subprocess.run([PINPIPE, "source", "init", "--rows", "50"], env=env, check=True, capture_output=True, timeout=60)
    gateway = Gateway(home, {"PINPIPE_LOG_URL": cluster.url}, log_path=tmp_path / "gateway.log").launch()
    try:
        # Listening with the log down (before, start-up waited out the client's 10 s metadata timeout).
        services.wait_until(lambda: gateway.health() is not None, timeout=30, what="pinpipe api listening")
        health = gateway.health()
        assert health is not None and health.status_code == 503
        assert health.json()["status"] == "unavailable" and health.json()["error"]

        refused = httpx.post(f"{gateway.url}/topics/pinterest.pin", content=ONE_RECORD, headers=KAFKA_JSON, timeout=30)
        assert refused.status_code == 503 and float(refused.headers["retry-after"]) > 0
        assert "nothing was written" in refused.json()["message"]

        done = emulate(env, gateway.url)
        assert done.returncode == 1
        assert "HTTP 503" in done.stderr and "its event log is down" in done.stderr
        assert "is the gateway up" not in done.stderr

        cluster.start(1)
        cluster.wait_ready(1)
        services.wait_until(lambda: gateway._healthy(), timeout=60, what="the gateway seeing its log again")
        answer = httpx.post(f"{gateway.url}/topics/pinterest.pin", content=ONE_RECORD, headers=KAFKA_JSON, timeout=30)
        assert answer.status_code == 200, answer.text
        assert [o["offset"] for o in answer.json()["offsets"]] == [0]  # the first record of a new topic
        assert emulate(env, gateway.url).returncode == 0
    finally:
        gateway.stop()
        cluster.stop_all()

    gone = emulate(env, gateway.url)  # no gateway at all: the other message
    assert gone.returncode == 1 and "is the gateway up" in gone.stderr and "HTTP 503" not in gone.stderr
