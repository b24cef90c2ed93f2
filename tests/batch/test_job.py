"""The batch job's contract: idempotent reruns, --date reads one day, clear errors, the CLI."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from pinpipe.batch import run_batch
from pinpipe.batch.job import BatchSummary
from pinpipe.clean.schema import ID_FIELD
from pinpipe.cli import main
from pinpipe.engines.duckdb import DuckDBEngine, lake_parts, memory_bytes
from pinpipe.errors import PinpipeError
from pinpipe.lake.layout import Partitioner
from pinpipe.lake.store import open_lake, sink_files
from pinpipe.settings import TABLES, Settings, get_settings, local_path
from pinpipe.tables import batch_table, dead_letter_table_uri, insight_table, open_table, read_table
from tests.batch.lakegen import GOOD, MISFITS, NOT_UTF8, random_events, write_odd_file, write_random_lake, write_records
from tests.support.warehouse import batch_snapshot

DAY1, DAY2 = date(2024, 5, 1), date(2024, 5, 2)


def quiet(_: str) -> None:
    """Progress lines are not what these tests look at."""


def two_day_lake(settings: Settings) -> tuple[set[int], set[int]]:
    """Events 0-39 on day 1, 40-79 on day 2 (some replayed on day 2), misfits on day 2; returns the inds."""
    events = random_events(80, seed=3)
    lake = settings.home / "lake"
    for kind, rows in events.items():
        key = "index" if kind == "pin" else "ind"
        first = [r for r in rows if r[key] < 40]
        second = [r for r in rows if r[key] >= 40] + first[:5]
        write_records(lake, settings.topic(kind), first, day=DAY1, per_file=9)
        write_records(lake, settings.topic(kind), [*second, *MISFITS[kind]], start_offset=len(first), day=DAY2)
    return set(range(40)), set(range(40, 80))


def inds(settings: Settings, kind: str = "pin") -> set[int]:
    table = read_table(batch_table(settings, kind), columns=["ind"])
    assert table is not None
    return set(table.column("ind").to_pylist())


def test_rerun_leaves_the_same_tables_and_no_doubled_dead_letters(home: Path) -> None:
    settings = get_settings()
    write_random_lake(settings.home / "lake", settings.prefix, 300)
    first = run_batch(settings, None, "duckdb", progress=quiet)
    before = batch_snapshot(settings)
    second = run_batch(settings, None, "duckdb", progress=quiet)
    after = batch_snapshot(settings)
    assert first.dead_letters == second.dead_letters == sum(len(m) for m in MISFITS.values())
    assert before.keys() == after.keys()
    for name in before:
        assert before[name].equals(after[name]), name
    assert before["pin"].num_rows == 300
    assert before["dead_letter"].num_rows == first.dead_letters


def test_date_reads_only_that_day_and_later_days_merge(home: Path) -> None:
    settings = get_settings()
    day1, day2 = two_day_lake(settings)
    summary = run_batch(settings, DAY1, "duckdb", progress=quiet)
    assert summary.scope == "2024-05-01" and summary.dead_letters == 0
    assert inds(settings) == day1
    run_batch(settings, DAY2, "duckdb", progress=quiet)
    assert inds(settings) == day1 | day2
    once = batch_snapshot(settings)
    run_batch(settings, DAY1, "duckdb", progress=quiet)  # a rerun of day 1 changes nothing
    again = batch_snapshot(settings)
    for name in once:
        assert once[name].equals(again[name]), name
    assert once["dead_letter"].num_rows == sum(len(m) for m in MISFITS.values())


def test_a_day_with_no_files_writes_no_rows(home: Path) -> None:
    settings = get_settings()
    two_day_lake(settings)
    summary = run_batch(settings, date(2030, 1, 1), "duckdb", progress=quiet)
    assert summary.records_read == {"pin": 0, "geo": 0, "user": 0}
    assert inds(settings) == set()


def test_a_scope_with_no_files_is_said_and_can_be_refused(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong lake URL in cron looks like a quiet day: the run says so, and `on_no_data` may stop it first."""
    from pinpipe.batch import job

    settings = get_settings()
    two_day_lake(settings)
    said: list[str] = []
    run_batch(settings, date(2030, 1, 1), "duckdb", progress=said.append)
    warnings = [line for line in said if line.startswith("warning:")]
    assert warnings == [
        f"warning: no lake files for 2030-01-01 in {(settings.lake_url or '').rstrip('/')}: nothing to clean "
        f"({job.NO_DATA_HINT})"
    ]
    said.clear()
    run_batch(settings, DAY1, "duckdb", progress=said.append)
    assert not [line for line in said if line.startswith("warning:")], "a day with files warns of nothing"

    def no_engine(*args: object, **kwargs: object) -> None:
        raise AssertionError("an engine was started for a scope without files")

    class Refused(Exception):
        pass

    def refuse(what: str) -> None:
        raise Refused(what)

    monkeypatch.setattr(job, "get_engine", no_engine)
    with pytest.raises(Refused, match=r"^no lake files for 2030-01-01 in file://"):
        run_batch(settings, date(2030, 1, 1), "duckdb", progress=quiet, on_no_data=refuse)


def test_cli_require_data_fails_a_run_without_files(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = get_settings()
    two_day_lake(settings)
    assert main(["batch", "run", "--date", "2030-01-01"]) == 0
    err = capsys.readouterr().err
    assert "warning: no lake files for 2030-01-01 in file://" in err
    assert [line for line in err.splitlines() if line.startswith("warning:")] == [
        next(line for line in err.splitlines() if "no lake files" in line)
    ], "the warning is one line"
    assert main(["batch", "run", "--date", "2030-01-01", "--require-data"]) == 1
    *progress, last = capsys.readouterr().err.splitlines()
    assert last.startswith("error: --require-data: no lake files for 2030-01-01 in file://")
    assert "PINPIPE_LAKE_URL" in last and not any("error" in line or "warning" in line for line in progress)
    assert not any("merged" in line for line in progress), "refused before any work"
    assert main(["batch", "run", "--date", "2024-05-01", "--require-data"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_date_on_a_default_layout_lake_is_a_clear_error(home: Path) -> None:
    settings = get_settings()
    write_records(settings.home / "lake", settings.topic("pin"), [{"x": 1}], partitioner=Partitioner.DEFAULT)
    with pytest.raises(PinpipeError, match="no daily layout"):
        run_batch(settings, DAY1, "duckdb", progress=quiet)


def test_all_reads_both_layouts(home: Path) -> None:
    settings = get_settings()
    events = random_events(20, seed=5)
    lake = settings.home / "lake"
    for kind, rows in events.items():
        write_records(lake, settings.topic(kind), rows[:10], partitioner=Partitioner.DEFAULT)
        write_records(lake, settings.topic(kind), rows[10:], start_offset=10, partition=1)
    run_batch(settings, None, "duckdb", progress=quiet)
    assert inds(settings) == set(range(20))


def test_insight_commits_carry_the_run_date(home: Path) -> None:
    settings = get_settings()
    two_day_lake(settings)
    run_batch(settings, DAY2, "duckdb", progress=quiet)
    table = open_table(insight_table(settings, "top_category_by_country"))
    assert table is not None
    last = table.history(1)[0]
    assert last["pinpipe.scope"] == "2024-05-02"
    assert date.fromisoformat(last["pinpipe.run_date"]) >= date(2024, 5, 2)


def test_cli_batch_run_and_its_errors(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # typer's usage-error box, unwrapped
    settings = get_settings()
    two_day_lake(settings)
    assert main(["batch", "run", "--date", "2024-05-01"]) == 0
    out = capsys.readouterr()
    assert "batch 2024-05-01" in out.out and "clean rows on ind" in out.err
    assert main(["batch", "run"]) != 0
    assert "--all" in capsys.readouterr().err
    assert main(["batch", "run", "--date", "2024-13-01"]) != 0
    assert "is not a date" in capsys.readouterr().err
    assert main(["batch", "run", "--all", "--engine", "pandas"]) == 2  # a usage error, as typer reports one
    assert "'pandas' is not one of 'duckdb', 'spark'" in capsys.readouterr().err
    assert main(["batch", "run", "--all", "--date", "2024-05-01"]) == 2
    assert capsys.readouterr().err == "error: give either --date or --all, not both\n"


@pytest.mark.parametrize("gzip_file", [False, True], ids=["plain", "gzip"])
def test_a_record_that_is_not_utf8_is_a_dead_letter_and_the_day_runs(home: Path, gzip_file: bool) -> None:
    settings = get_settings()
    lake = settings.home / "lake"
    for kind in TABLES:
        topic = settings.topic(kind)
        end = write_records(lake, topic, random_events(20, seed=9)[kind], day=DAY1)
        lines = write_odd_file(lake, topic, kind, start_offset=end, gzip_file=gzip_file)
        write_records(lake, topic, [GOOD[kind] | {ID_FIELD[kind]: 9100}], start_offset=end + len(lines), day=DAY1)
    summary = run_batch(settings, DAY1, "duckdb", progress=quiet)
    dead = read_table(dead_letter_table_uri(settings))
    assert dead is not None
    rows = {(r["topic"], r["offset"]): r for r in dead.to_pylist()}
    assert summary.dead_letters == len(rows) == 3
    for kind in TABLES:
        table = read_table(batch_table(settings, kind))
        assert table is not None
        end = len(random_events(20, seed=9)[kind])  # the odd file's start offset
        bad = rows[(settings.topic(kind), end + 2)]
        assert bad["reason"] == "record is not valid UTF-8" and bad["source"] == "batch"
        assert bad["value"] == NOT_UTF8[kind].decode("utf-8", errors="replace")
        # the file's other records, and the next file's, are cleaned as usual
        assert {9000, 9100} <= set(table.column("ind").to_pylist())
        assert summary.records_read[kind] == end + 4


def test_a_repeated_key_reads_its_last_value_in_the_batch(home: Path) -> None:
    settings = get_settings()
    lake = settings.home / "lake"
    for kind in TABLES:
        write_odd_file(lake, settings.topic(kind), kind, start_offset=0)
    run_batch(settings, None, "duckdb", progress=quiet)
    rows = {kind: {r["ind"]: r for r in read_table(batch_table(settings, kind)).to_pylist()} for kind in TABLES}
    assert rows["pin"][9002]["title"] == "last" and rows["pin"][9002]["follower_count"] == 2000
    assert 9001 not in rows["pin"]
    assert rows["geo"][9001]["country"] == "Last"
    assert rows["geo"][9001]["timestamp"].isoformat() == "2020-02-02T02:02:02+00:00"
    assert rows["user"][9001]["age"] == 30 and rows["user"][9001]["user_name"] == "Z B"


def test_a_lake_read_in_parts_gives_the_tables_of_one_read(home: Path) -> None:
    """Past its memory budget DuckDB stages a topic a part at a time: the first record per ``ind`` by
    (partition, offset) must still win across parts, and a later day must merge as a whole read would."""
    settings = get_settings()
    lake = settings.home / "lake"
    write_random_lake(lake, settings.prefix, 300)  # replays shuffled over both days, gzip files on day 2
    for kind in TABLES:
        write_odd_file(lake, settings.topic(kind), kind, start_offset=10_000)
    warehouse = Path(local_path(str(settings.warehouse_url)))
    files = sink_files(open_lake(str(settings.lake_url), read_only=True), settings.topic("pin"))
    assert len(lake_parts(files, 4_000)) > 5

    def snapshots(part_bytes: int | None) -> list[tuple[dict[str, pa.Table], BatchSummary]]:
        shutil.rmtree(warehouse, ignore_errors=True)
        taken = []
        for day in (DAY1, DAY2, None):  # day 1 into empty tables, day 2 merged into them, then everything
            engine = DuckDBEngine(part_bytes=part_bytes)
            try:
                summary = run_batch(settings, day, "duckdb", progress=quiet, engine_instance=engine)
            finally:
                engine.close()
            taken.append((batch_snapshot(settings), summary))
        return taken

    whole, parted = snapshots(None), snapshots(4_000)
    for (tables, summary), (parted_tables, parted_summary) in zip(whole, parted, strict=True):
        assert parted_summary.records_read == summary.records_read
        assert parted_summary.dead_letters == summary.dead_letters > 0
        assert parted_summary.rows_written == summary.rows_written
        for name, table in tables.items():
            assert parted_tables[name].equals(table), name


def test_the_memory_limit_is_read_as_duckdb_spells_it() -> None:
    assert memory_bytes("1500MB") == 1_500_000_000
    assert memory_bytes("2GiB") == 2 * 2**30
    assert memory_bytes("4 gb") == 4_000_000_000
    with pytest.raises(PinpipeError, match="is not a size"):
        memory_bytes("lots")
