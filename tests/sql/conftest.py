"""A small warehouse holding every named table, built once: a batch run and a stream run.

The batch run reads the random lake of the batch tests (150 events: NULLs, misfit records, so a
dead_letter table too); the stream run reads 40 events of tests/stream/rows.py, whose values are
known, from the embedded log. Tests that commit to a table work on a copy (``own_warehouse``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pinpipe.batch import run_batch
from pinpipe.log import ensure_topics, open_log
from pinpipe.settings import TABLES, get_settings
from pinpipe.stream.engine import StreamJob, StreamOptions
from tests.batch.lakegen import write_random_lake
from tests.stream.rows import append_events

BATCH_EVENTS = 150
STREAM_EVENTS = 40


def build_warehouse(base: Path) -> Path:
    """Run the batch job and the stream job in the home ``base/home``; returns its warehouse folder."""
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("PINPIPE_") and key != "PINPIPE_JARS_DIR":
                patch.delenv(key)
        patch.chdir(base)
        patch.setenv("PINPIPE_HOME", str(base / "home"))
        settings = get_settings()
        write_random_lake(settings.home / "lake", settings.prefix, BATCH_EVENTS)
        run_batch(settings, None, "duckdb", progress=lambda _: None)
        log = open_log(settings.stream_log_url or "", settings)
        try:
            ensure_topics(log, [settings.stream(kind) for kind in TABLES], 1)
            append_events(log, settings, list(range(STREAM_EVENTS)))
        finally:
            log.close()
        StreamJob(settings, StreamOptions(until_idle=True, status=False)).run()
    return base / "home" / "warehouse"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warehouse, read-only: built once per run (a few seconds), read by every test here."""
    return build_warehouse(tmp_path_factory.mktemp("sql-warehouse"))


@pytest.fixture
def warehouse(home: Path, built: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's settings point at the shared warehouse."""
    monkeypatch.setenv("PINPIPE_WAREHOUSE_URL", str(built))
    return built


@pytest.fixture
def own_warehouse(home: Path, built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shared warehouse, which this test may commit to."""
    copy = shutil.copytree(built, tmp_path / "own-warehouse")
    monkeypatch.setenv("PINPIPE_WAREHOUSE_URL", str(copy))
    return copy
