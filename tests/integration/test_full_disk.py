"""A disk that fills up under the sink (the lake's) and under the stream job (the warehouse's), on a real
small tmpfs: each stops with one line saying which disk is full — no Rust panic dump, no temp files
left — and once the disk has grown the rerun is exact (every offset once in the lake, every ind once
in the stream tables)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pinpipe.lake.local import TMP_DIR
from pinpipe.lake.store import open_lake
from pinpipe.settings import TABLES, get_settings
from pinpipe.tables import read_table, warehouse_table
from tests import services
from tests.integration.stream_flow import log_records, pinpipe, row_ind
from tests.sink.helpers import lake_records
from tests.support.acks import by_position, read_all
from tests.support.processes import PINPIPE

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` (root mounts one); unmounted however the test ends."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        services.unavailable("a tmpfs mount (a small full disk)", "run the tests as root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def grow(path: Path, size: str) -> None:
    """The disk grows, its files kept (as an operator extending a volume)."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True, capture_output=True)


def fails_in_one_line(*args: str) -> str:
    done = subprocess.run([PINPIPE, *args], capture_output=True, text=True, timeout=180, env=dict(os.environ))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith(("stream:", "sink"))]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "panicked" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_the_lakes_disk_fills_under_the_sink(
    home: Path, tmp_path: Path, gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinpipe("source", "init", "--rows", "2000", "--seed", "3")
    pinpipe("emulate", "batch", "--events", "2000", "--seed", "4", "--api", gateway)
    with tmpfs(tmp_path / "lake", "256k") as lake:
        monkeypatch.setenv("PINPIPE_LAKE_URL", lake.as_uri())
        line = fails_in_one_line("sink", "run", "--until-idle", "--flush-size", "100")
        assert "the lake's disk is full" in line and lake.as_uri() in line
        assert not any((lake / TMP_DIR).iterdir()), "the sink left temp files on the full disk"

        grow(lake, "64m")
        pinpipe("sink", "run", "--until-idle", "--flush-size", "100")
        settings = get_settings()
        assert settings.log_url
        topics = [settings.topic(kind) for kind in TABLES]
        expected = by_position(read_all(settings.log_url, settings, topics, 3 * 2000))
        assert lake_records(open_lake(lake.as_uri(), read_only=True)) == expected  # each offset once, no gap


def test_the_warehouses_disk_fills_under_the_stream_job(
    home: Path, tmp_path: Path, gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinpipe("source", "init", "--rows", "6000", "--seed", "5")
    pinpipe("emulate", "stream", "--events", "6000", "--seed", "6", "--api", gateway)
    with tmpfs(tmp_path / "warehouse", "512k") as warehouse:
        monkeypatch.setenv("PINPIPE_WAREHOUSE_URL", str(warehouse))
        line = fails_in_one_line("stream", "run", "--until-idle", "--max-batch-records", "3000")
        assert "the warehouse's disk is full" in line
        assert (home / "logs" / "native.log").exists()  # where delta-rs's own output went

        grow(warehouse, "64m")
        pinpipe("stream", "run", "--until-idle")
        settings = get_settings()
        streams = log_records(settings)
        for kind in TABLES:
            table = read_table(warehouse_table(settings, "stream", kind), columns=["ind"])
            assert table is not None
            got = table.column("ind").to_pylist()
            want = {i for i in (row_ind(kind, r) for r in streams[kind]) if i is not None}
            assert len(got) == len(set(got)) and set(got) == want, kind
