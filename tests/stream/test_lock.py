"""One stream job per warehouse (pinpipe.stream.lock): a second is refused at start in one line, on
either engine and inside the gateway, and a job killed by SIGKILL never blocks the next one."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable

from pinpipe.api.main import create_app
from pinpipe.log import ensure_topics, open_log
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings, get_settings
from pinpipe.stream.engine import StreamJob, StreamOptions, StreamSummary
from pinpipe.stream.lock import LOCK_NAME, StreamJobRunningError, WarehouseLock, lock_path
from pinpipe.stream.spark import SparkStreamOptions, run_spark_stream
from tests.api.conftest import serve
from tests.services import wait_until
from tests.stream.rows import append_events
from tests.support.processes import PINPIPE

KINDS = ("pin", "geo", "user")


def refusal(pid: int) -> str:
    """The start of the one line a refused job says (its hint follows in parentheses)."""
    return rf"^another stream job is running on warehouse file://\S+/warehouse \(pid {pid}\) \("


@pytest.fixture
def settings(home: Path) -> Settings:
    return get_settings(partitions=2)


@pytest.fixture
def log(settings: Settings) -> Iterator[EmbeddedLog]:
    opened = open_log(settings.stream_log_url or "", settings)
    assert isinstance(opened, EmbeddedLog)
    ensure_topics(opened, [settings.stream(k) for k in KINDS], settings.partitions)
    yield opened
    opened.close()


def idle_job(settings: Settings) -> StreamJob:
    return StreamJob(settings, StreamOptions(until_idle=True, status=False))


def test_the_lock_lives_beside_the_stream_tables(settings: Settings) -> None:
    assert lock_path(settings) == settings.home / "warehouse" / "stream" / LOCK_NAME
    on_s3 = get_settings(warehouse_url="s3://bucket/warehouse")
    assert lock_path(on_s3) is None  # no flock on object storage: the operator's duty (docs/STREAMING.md)
    with WarehouseLock(on_s3) as first, WarehouseLock(on_s3) as second:
        assert first.held and second.held


def test_a_second_job_is_refused_while_the_first_runs_and_starts_once_it_stopped(
    settings: Settings, log: EmbeddedLog
) -> None:
    append_events(log, settings, list(range(20)))
    committed = threading.Event()
    failures: list[BaseException] = []

    def note(summary: StreamSummary) -> None:
        committed.set()

    first = StreamJob(settings, StreamOptions(status=False), on_commit=note)  # no until_idle: runs until stop()

    def run_first() -> None:
        try:
            first.run()
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    thread = threading.Thread(target=run_first, name="first-stream-job")
    thread.start()
    try:
        assert committed.wait(60), failures
        second = idle_job(settings)
        with pytest.raises(StreamJobRunningError, match=refusal(os.getpid())) as refused:
            second.run()
        assert "one stream job per warehouse" in str(refused.value)
        assert not hasattr(second, "tables") and second.summary.records == 0  # refused before start-up
        # the Spark engine takes the same lock, before it builds a session
        with pytest.raises(StreamJobRunningError, match=refusal(os.getpid())):
            run_spark_stream(settings, SparkStreamOptions(until_idle=True), session=object())
    finally:
        first.stop()
        thread.join(timeout=60)
    assert not thread.is_alive() and failures == []
    assert not first.lock.held
    append_events(log, settings, [100, 101])
    summary = idle_job(settings).run()
    assert summary.records == 6 and summary.written == 6


def test_the_gateway_with_stream_is_refused_beside_a_running_job_and_holds_the_lock_while_it_serves(
    settings: Settings, log: EmbeddedLog
) -> None:
    with WarehouseLock(settings), pytest.raises(StreamJobRunningError, match=refusal(os.getpid())):
        create_app(settings, log=log, with_stream=True)
    app = create_app(settings, log=log, with_stream=True)  # free again: the lock is taken here, before serving
    with serve(app) as client:
        assert client.get("/health").status_code == 200
        with pytest.raises(StreamJobRunningError, match=refusal(os.getpid())):
            idle_job(settings).run()
    idle_job(settings).run()  # released at shutdown


def test_pinpipe_stream_run_beside_a_running_job_says_so_in_one_line(settings: Settings) -> None:
    with WarehouseLock(settings):
        done = subprocess.run(
            [PINPIPE, "stream", "run", "--until-idle", "--quiet"],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ),
        )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.match(r"^error: " + refusal(os.getpid())[1:], lines[0]), lines[0]


def test_a_job_killed_by_sigkill_never_blocks_the_next(settings: Settings, log: EmbeddedLog) -> None:
    append_events(log, settings, list(range(50)))
    path = lock_path(settings)
    assert path is not None
    job = subprocess.Popen(
        [PINPIPE, "stream", "run", "--quiet"],  # service mode: only a signal ends it
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    try:
        # its pid is written only once it holds the lock
        wait_until(
            lambda: (path.exists() and path.read_text().strip() == str(job.pid)) or job.poll() is not None,
            timeout=120,
            what="the stream job holding the warehouse",
        )
        assert job.poll() is None, job.stderr.read() if job.stderr else ""
        with pytest.raises(StreamJobRunningError, match=refusal(job.pid)):
            WarehouseLock(settings).acquire()
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=30)
        assert job.returncode == -signal.SIGKILL
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
        if job.stderr:
            job.stderr.close()
    assert path.read_text().strip() == str(job.pid)  # the dead holder's pid is still in the file: no matter
    idle_job(settings).run()  # right away, as the chaos tests restart
    for kind in KINDS:
        table = DeltaTable(str(settings.home / "warehouse" / "stream" / kind))
        assert sorted(table.to_pyarrow_table()["ind"].to_pylist()) == list(range(50))
