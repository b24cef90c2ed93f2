"""emulate stream → gateway → event log (embedded | Kafka on Tansu | Kinesis on moto) → stream job → Delta.

Each backend end to end through the real processes: the tables must hold exactly the distinct inds
the log acknowledged, once each, cleaned per DESIGN.md; a second run adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.stream_flow import (
    bad_records,
    check_dead_letters_once,
    check_tables_hold_each_acknowledged_ind_once,
    current_settings,
    pinpipe,
    table_rows,
    unique_prefix,
)

pytestmark = pytest.mark.services

BACKENDS = ["embedded", "kafka", "kinesis"]


@pytest.fixture(params=BACKENDS)
def stream_backend(request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point PINPIPE_STREAM_LOG_URL at the backend before the gateway starts (it inherits the env)."""
    kind = request.param
    monkeypatch.setenv("PINPIPE_PREFIX", unique_prefix())
    monkeypatch.setenv("PINPIPE_PARTITIONS", "2")
    if kind == "kafka":  # librdkafka's default client settings, as a user has them
        monkeypatch.setenv("PINPIPE_STREAM_LOG_URL", request.getfixturevalue("kafka").url)
    elif kind == "kinesis":
        request.getfixturevalue("aws_env")
        monkeypatch.setenv("PINPIPE_STREAM_LOG_URL", "kinesis://us-east-1")
    yield kind


def test_emulated_stream_lands_in_delta_exactly_once(stream_backend: str, gateway: str) -> None:
    pinpipe("source", "init", "--rows", "300", "--seed", "7")
    # 400 random picks of 300 events: replays are certain, as with the real emulator.
    pinpipe("emulate", "stream", "--events", "400", "--seed", "3", "--api", gateway, "--batch-size", "50")
    pinpipe("emulate", "stream", "--events", "30", "--seed", "4", "--api", gateway, "--batch-size", "1")
    settings = current_settings()
    bad = bad_records(settings, 1)
    for stream, body in bad:
        assert httpx.put(f"{gateway}/streams/{stream}/record", json=body, timeout=30).status_code == 200
    done = pinpipe("stream", "run", "--until-idle", "--quiet", "--max-batch-records", "500")
    assert "rows written" in done.stderr
    records = check_tables_hold_each_acknowledged_ind_once(settings)
    # Each bad record once, at its position: on Kinesis the sequence number, which no int64 holds.
    check_dead_letters_once(settings, records, len(bad))
    before = {k: len(table_rows(settings, f"stream/{k}")) for k in ("pin", "geo", "user")}
    pinpipe("stream", "run", "--until-idle", "--quiet")
    assert {k: len(table_rows(settings, f"stream/{k}")) for k in ("pin", "geo", "user")} == before
