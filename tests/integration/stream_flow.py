"""Shared steps of the stream integration tests: run the CLI, read the log and the tables back."""

from __future__ import annotations

import base64
import os
import subprocess
import time
import uuid
from pathlib import Path

import orjson
from deltalake import DeltaTable

from pinpipe.clean.schema import RAW_FIELDS
from pinpipe.log import Record, TopicPartition, open_log
from pinpipe.settings import TABLES, Settings, get_settings
from tests.support.processes import PINPIPE

READ_DEADLINE_S = 60.0


def pinpipe(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the CLI in this test's environment (PINPIPE_HOME, log URLs, AWS_*); fail loudly with its output."""
    done = subprocess.run([PINPIPE, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ))
    assert done.returncode == 0, f"pinpipe {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def unique_prefix() -> str:
    """Streams are named after the prefix; Tansu and moto are shared per session."""
    return f"s{uuid.uuid4().hex[:8]}"


def log_records(settings: Settings) -> dict[str, list[Record]]:
    """Every record of each stream, read by a throw-away consumer group (the acknowledged truth)."""
    log = open_log(settings.stream_log_url or "", settings)
    try:
        out: dict[str, list[Record]] = {}
        for kind in TABLES:
            stream = settings.stream(kind)
            consumer = log.consumer(f"check-{uuid.uuid4().hex[:8]}", [stream])
            try:
                for partition in range(log.topics()[stream]):
                    consumer.seek(TopicPartition(stream, partition), 0)
                records: list[Record] = []
                deadline = time.monotonic() + READ_DEADLINE_S
                idle = 0
                while idle < 3 and time.monotonic() < deadline:
                    batch = consumer.poll(5000, 1.0)
                    records.extend(batch)
                    lag = consumer.lag()
                    idle = idle + 1 if not batch and lag and not any(lag.values()) else 0
                out[kind] = records
            finally:
                consumer.close()
        return out
    finally:
        log.close()


def row_ind(kind: str, record: Record) -> int | None:
    """The record's ind if it is a well-formed row of ``kind`` (exactly its topic's keys), else None."""
    try:
        row = orjson.loads(record.value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(row, dict) or set(row) != {f.name for f in RAW_FIELDS[kind]}:
        return None
    value = row.get("index" if kind == "pin" else "ind")
    return value if isinstance(value, int) else None


def table_rows(settings: Settings, name: str) -> list[dict]:
    return DeltaTable(str(settings.home / "warehouse" / name)).to_pyarrow_table().to_pylist()


def follower_count(text: str) -> int | None:
    """The test's own oracle for DESIGN.md's follower_count rule."""
    if text.endswith("k") and text[:-1].isdigit():
        return int(text[:-1]) * 1000
    if text.endswith("M") and text[:-1].isdigit():
        return int(text[:-1]) * 1_000_000
    return int(text) if text.isdigit() else None


def check_tables_hold_each_acknowledged_ind_once(settings: Settings) -> dict[str, list[Record]]:
    """The stream tables hold exactly the distinct inds in the log, once each, cleaned per DESIGN.md."""
    records = log_records(settings)
    for kind in TABLES:
        expected = {i for i in (row_ind(kind, r) for r in records[kind]) if i is not None}
        got = [r["ind"] for r in table_rows(settings, f"stream/{kind}")]
        assert len(got) == len(set(got)), f"{kind}: an ind appears twice"
        assert set(got) == expected, f"{kind}: {len(set(got) ^ expected)} inds differ"
    raw_pins = {row_ind("pin", r): orjson.loads(r.value) for r in records["pin"] if row_ind("pin", r) is not None}
    for row in table_rows(settings, "stream/pin"):
        raw = raw_pins[row["ind"]]
        assert row["follower_count"] == follower_count(raw["follower_count"])
        assert row["save_location"] == raw["save_location"].removeprefix("Local save in ")
        if raw["title"] == "No Title Data Available":
            assert row["title"] is None
        assert "downloaded" not in row
    for row in table_rows(settings, "stream/geo"):
        assert len(row["coordinates"]) == 2 and row["timestamp"] is not None
    for row in table_rows(settings, "stream/user"):
        assert " " in row["user_name"] and row["date_joined"] is not None
    return records


def current_settings() -> Settings:
    return get_settings()


def check_dead_letters_once(
    settings: Settings, records: dict[str, list[Record]], posted_bad: int, rows: list[dict] | None = None
) -> None:
    """Every bad record the log holds is in dead_letter exactly once, at its position in the log (the
    offset as text, or the Kinesis sequence number in full), and it holds the ``posted_bad`` sent.
    ``rows``: the dead_letter table's rows where it is not the local home's."""
    bad_in_log = [
        (r.topic, r.partition, str(r.offset)) for kind in TABLES for r in records[kind] if row_ind(kind, r) is None
    ]
    found = table_rows(settings, "dead_letter") if rows is None else rows
    dead = [(d["topic"], d["partition"], d["position"]) for d in found]
    assert len(dead) == len(set(dead)), "a dead letter was written twice"
    assert sorted(dead) == sorted(bad_in_log)
    assert len(dead) == posted_bad
    for d in found:  # the int64 offset where the position fits one, else NULL (Kinesis)
        assert d["offset"] == (int(d["position"]) if int(d["position"]) < 2**63 else None)


def delta_commits(home: Path) -> int:
    """Commits so far over the three stream tables (each is one JSON file in its _delta_log)."""
    return sum(len(list((home / "warehouse" / "stream" / k / "_delta_log").glob("*.json"))) for k in TABLES)


def bad_records(settings: Settings, n: int) -> list[tuple[str, dict]]:
    """(stream, PutRecord body) of records that must end in dead_letter."""
    stream = settings.stream
    user_row = {"ind": 10**6 + n, "first_name": "A", "last_name": "B", "age": 30, "date_joined": "2016-01-01 00:00:00"}
    return [
        (stream("geo"), {"Data": user_row, "PartitionKey": f"bad-{n}"}),  # a user row on the geo stream
        (stream("pin"), {"Data": {"index": "seven", "title": "x"}, "PartitionKey": f"bad-{n}"}),
        (stream("user"), {"Data": base64.b64encode(b"not json at all").decode(), "PartitionKey": f"bad-{n}"}),
    ]
