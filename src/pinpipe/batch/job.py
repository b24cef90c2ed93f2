"""The daily batch job: lake → clean (one definition, any engine) → Delta tables → nine insights.

``pinpipe batch run`` and the Airflow DAG call :func:`run_batch`. It is idempotent by construction:
clean rows are merged on ``ind``, dead letters on their record key, insights replaced whole — so a
rerun of the same day, or of everything, leaves the same tables.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from pinpipe.engines import ENGINES, Engine, get_engine
from pinpipe.insights.queries import INSIGHTS
from pinpipe.lake.store import check_daily, open_lake, sink_files
from pinpipe.settings import TABLES, Settings
from pinpipe.tables.delta import batch_table, dead_letter_table_uri, insight_table, run_metadata

Progress = Callable[[str], None]

#: Told that the run's scope has no lake files (what and where, one sentence); it may raise to stop the run.
NoData = Callable[[str], None]

#: Why a scope may be empty, for the warning: the two mistakes that look like "no data" from cron.
NO_DATA_HINT = "is PINPIPE_LAKE_URL right, and has `pinpipe sink run` landed the topics?"


@dataclass
class BatchSummary:
    """What a run did, for the CLI, the DAG's logs and the benchmark."""

    engine: str
    scope: str
    files_read: dict[str, int] = field(default_factory=dict)
    records_read: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)
    insight_rows: dict[str, int] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_batch(
    settings: Settings,
    day: date | None,
    engine: str = "duckdb",
    *,
    spark_master: str | None = None,
    progress: Progress | None = None,
    engine_instance: Engine | None = None,
    on_no_data: NoData | None = None,
) -> BatchSummary:
    """Run the batch for ``day`` (its daily partitions only) or, with ``None``, for the whole lake.

    A scope without lake files still runs (there is nothing to merge, and the insights are the
    tables' as they were), but it is said: a wrong lake URL or a sink that never ran looks just
    like a quiet day. ``on_no_data`` hears it instead of the warning, and may raise to refuse the
    run (``pinpipe batch run --require-data``) before any engine starts.
    """
    say = progress or _stderr
    if engine_instance is None and engine not in ENGINES:
        get_engine(engine, settings)  # raises its one-line error for an unknown name, before the lake is listed
    scope = day.isoformat() if day else "all"
    started = datetime.now(tz=UTC)
    summary = BatchSummary(engine=engine, scope=scope)
    clock = begun = time.perf_counter()
    assert settings.lake_url is not None
    with ExitStack() as closing:
        lake = open_lake(settings.lake_url, read_only=True)  # the batch reads the lake, never changes it
        closing.callback(lake.close)
        topics = {kind: settings.topic(kind) for kind in TABLES}
        if day is not None:
            check_daily(lake, list(topics.values()))
        files = {kind: sink_files(lake, topic, day) for kind, topic in topics.items()}
        summary.files_read = {kind: len(f) for kind, f in files.items()}
        where = lake.url.rstrip("/")
        say(f"batch {scope}: {sum(summary.files_read.values())} lake files in {where} ({engine})")
        if not any(summary.files_read.values()):
            empty = f"no lake files {f'for {scope} ' if day else ''}in {where}"
            if on_no_data is not None:
                on_no_data(empty)
            else:
                say(f"warning: {empty}: nothing to clean ({NO_DATA_HINT})")

        runner = engine_instance or get_engine(engine, settings, spark_master=spark_master)
        if engine_instance is None:
            closing.callback(runner.close)  # closed first, while the lake it may read is still open
        metadata = run_metadata("batch", scope, started)
        cleaned = runner.clean(files, lake)
        summary.durations["read_clean"] = time.perf_counter() - clock

        clock = time.perf_counter()

        def write(kind: str) -> int:
            return runner.merge_clean(cleaned, kind, batch_table(settings, kind), metadata)

        if cleaned.writers > 1:
            # At most two clean tables at a time: at 10M events three wide tables in flight at once
            # would add to the peak RSS.
            with ThreadPoolExecutor(max_workers=min(cleaned.writers, 2)) as pool:
                counts = dict(zip(TABLES, pool.map(write, TABLES), strict=True))
        else:
            counts = {kind: write(kind) for kind in TABLES}
        # read after the writes: an engine may read a big lake a part at a time while it writes
        summary.records_read = dict(cleaned.records_read)
        say("read " + ", ".join(f"{k} {n:,}" for k, n in summary.records_read.items()) + " records")
        summary.rows_written = {kind: counts[kind] for kind in TABLES}
        summary.dead_letters = runner.add_dead_letters(cleaned, dead_letter_table_uri(settings), started, metadata)
        summary.durations["write_tables"] = time.perf_counter() - clock
        say(
            "merged "
            + ", ".join(f"{k} {n:,}" for k, n in summary.rows_written.items())
            + f" clean rows on ind; {summary.dead_letters:,} dead letters"
        )

        clock = time.perf_counter()
        results = runner.insights({kind: batch_table(settings, kind) for kind in TABLES})

        def replace(name: str) -> int:
            return runner.replace_insight(name, results[name], insight_table(settings, name), metadata)

        if cleaned.writers > 1:
            with ThreadPoolExecutor(max_workers=cleaned.writers) as pool:  # nine small commits, mostly waiting
                summary.insight_rows = dict(zip(INSIGHTS, pool.map(replace, INSIGHTS), strict=True))
        else:
            summary.insight_rows = {name: replace(name) for name in INSIGHTS}
        summary.durations["insights"] = time.perf_counter() - clock
        say(f"wrote {len(INSIGHTS)} insights ({sum(summary.insight_rows.values()):,} rows)")
    summary.durations["total"] = time.perf_counter() - begun
    return summary
