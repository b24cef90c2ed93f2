"""`pinpipe demo` end to end, as a user runs it, and the rules of its fresh home.

The end-to-end test checks the demo's promise against the data, not against its own printout: the
lake holds every record of the topics once (files cover offsets 0..end without gap or overlap, as many
lines as the batch emulator had acknowledged), and the stream tables hold exactly the distinct events
the streams carry. The Ctrl-C test checks that the process tree is gone afterwards.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from pinpipe.cli import main
from pinpipe.demo.home import MARKER, prepare_home
from pinpipe.errors import PinpipeError
from pinpipe.insights import INSIGHTS
from pinpipe.lake.layout import parse_key
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import TABLES, get_settings
from pinpipe.stream.decode import decode_row
from pinpipe.tables import read_table, warehouse_table
from tests import services
from tests.support.processes import PINPIPE, descendants

DEMO_TIMEOUT_S = 170


def lake_lines(lake: Path, topic: str) -> list[tuple[int, int]]:
    """(start offset, records) of every sink file of ``topic``, in offset order."""
    files = []
    for path in (lake / "topics" / topic).rglob("*.json"):
        key = parse_key(path.relative_to(lake).as_posix())
        assert key is not None and key.partition == 0, path
        files.append((key.start_offset, len(path.read_bytes().splitlines())))
    return sorted(files)


def stream_inds(log: EmbeddedLog, stream: str) -> tuple[int, set[int]]:
    """How many records the stream holds, and the distinct events (``ind``) among them."""
    end = sum(log.end_offsets(stream).values())
    consumer = log.consumer("test-demo-check", [stream])
    seen, inds = 0, set()
    deadline = time.monotonic() + 30
    while seen < end and time.monotonic() < deadline:
        for record in consumer.poll(max_records=5_000, timeout_s=0.5):
            row = decode_row(record.value)
            inds.add(int(row["index"] if "index" in row else row["ind"]))
            seen += 1
    consumer.close()
    assert seen == end, f"read {seen} of {end} records of {stream}"
    return end, inds


@pytest.mark.services
@pytest.mark.slow
def test_demo_runs_end_to_end_and_everything_caught_up(home: Path) -> None:
    port = services.free_port()
    done = subprocess.run(
        [PINPIPE, "demo", "--events", "300", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in INSIGHTS:
        assert f"{name} (" in done.stdout, name
    report_lines = [line for line in done.stdout.splitlines() if line.startswith("report: ")]
    assert len(report_lines) == 1
    report = Path(report_lines[0].removeprefix("report: "))
    assert report.is_file() and report.parent == home / "reports"
    assert '"charts"' in report.read_text(encoding="utf-8")

    settings = get_settings()
    summary: dict[str, Any] = json.loads((home / "reports" / "last_run.json").read_text())
    emulated = {e["route"]: e for e in summary["emulators"]}
    assert emulated["batch"]["records_failed"] == 0 and emulated["stream"]["records_failed"] == 0
    assert emulated["batch"]["events"] == 300 and emulated["stream"]["events"] == 300

    log = EmbeddedLog(settings.log_url or "", settings)
    try:
        # The lake: every offset of every topic once, as many records as were acknowledged.
        landed = 0
        for kind in TABLES:
            topic = settings.topic(kind)
            end = sum(log.end_offsets(topic).values())
            files = lake_lines(home / "lake", topic)
            expected_start = 0
            for start, lines in files:
                assert start == expected_start, f"{topic}: gap or overlap at {start}"
                expected_start += lines
            assert expected_start == end, topic
            landed += end
        assert landed == emulated["batch"]["records_acknowledged"]

        # The stream tables: exactly the distinct events each stream carries.
        carried = 0
        for kind in TABLES:
            records, inds = stream_inds(log, settings.stream(kind))
            carried += records
            table = read_table(warehouse_table(settings, "stream", kind), ["ind"])
            assert table is not None
            held = table.column("ind").to_pylist()
            assert len(held) == len(set(held)), f"stream/{kind} holds an ind twice"
            assert set(held) == inds, f"stream/{kind}"
        assert carried == emulated["stream"]["records_acknowledged"]
    finally:
        log.close()
    assert summary["stream_job"]["records"] == emulated["stream"]["records_acknowledged"]
    assert summary["dead_letters"] == 0


def _wait_for(check: Any, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"demo exited with {proc.returncode} while waiting for {what}")
        return bool(check())

    services.wait_until(ready, timeout=timeout, what=what, interval=0.2)


@pytest.mark.services
@pytest.mark.slow
def test_demo_serve_starts_fresh_and_ctrl_c_stops_the_whole_tree(home: Path, tmp_path: Path) -> None:
    import psutil

    earlier = home / "lake" / "from-an-earlier-demo.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("{}\n")
    (home / MARKER).write_text("earlier demo\n")
    port = services.free_port()
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [PINPIPE, "demo", "--events", "50", "--rows", "500", "--serve", "--port", str(port)],
            stdout=stdout,
            stderr=stderr,
        )
    try:
        _wait_for(lambda: b"report: " in out.read_bytes(), proc, "the demo's report", DEMO_TIMEOUT_S)
        insights = httpx.get(f"http://127.0.0.1:{port}/api/insights", timeout=10).json()
        assert [c["name"] for c in insights["charts"]] == ["world_map", *INSIGHTS]
        assert insights["run"]["events_per_route"] == 50
        children = descendants(proc.pid)
        assert len(children) >= 3  # gateway, sink, stream job
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], f"left running: {alive}"
    finally:
        services.stop(proc)
    assert "started fresh" in err.read_text()
    assert not earlier.exists()


def test_fresh_home_refuses_data_the_demo_did_not_write(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "lake").mkdir(parents=True)
    (home / "source.db").write_text("someone's data")
    (home / "notes.txt").write_text("not pinpipe's")
    with pytest.raises(PinpipeError, match="not written by pinpipe demo") as refused:
        prepare_home(home, fresh=False)
    assert "--fresh" in str(refused.value)
    assert (home / "source.db").exists()

    assert prepare_home(home, fresh=True) is not None
    assert sorted(p.name for p in home.iterdir()) == [MARKER, "notes.txt"]
    (home / "log.db-wal").write_text("x")  # the demo's own data: the next run wipes it by itself
    assert "started fresh" in (prepare_home(home, fresh=False) or "")
    assert sorted(p.name for p in home.iterdir()) == [MARKER, "notes.txt"]


def test_demo_refuses_settings_that_leave_the_embedded_defaults(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PINPIPE_LOG_URL", "kafka://127.0.0.1:1")
    assert main(["demo"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PINPIPE_LOG_URL" in err and "embedded defaults" in err
    assert not home.exists()
