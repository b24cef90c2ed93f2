"""The DAG runs the embedded pipeline for real: `airflow dags test` per day, and a real Airflow backfill.

Two sites (Airflow metadata DB + pinpipe home each) get the same three days of raw data:

- "daily": the data arrives day by day and `airflow dags test pinterest_batch <D+1>` runs after each
  day (the run that fires at 00:00 on D+1 covers D) — three separate runs;
- "backfill": all three days are there first, then `airflow backfill create` over the three days is
  executed by a real scheduler and API server, with the backfill's default concurrency.

Both must end with the same warehouse tables and the same per-day exports.
"""

from __future__ import annotations

import csv
import itertools
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.airflow.harness import AirflowSite
from tests.airflow.pinpipe_side import day_inds, event_rows

DAYS = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
EVENTS = 24
INSIGHTS = {
    "top_category_by_country": ["country", "category", "category_count"],
    "top_category_by_year": ["post_year", "category", "category_count"],
    "top_user_by_country": ["country", "poster_name", "follower_count"],
    "top_country_by_followers": ["country", "follower_count"],
    "top_category_by_age_group": ["age_group", "category", "category_count"],
    "median_followers_by_age_group": ["age_group", "median_follower_count"],
    "users_joined_by_year": ["post_year", "number_users_joined"],
    "median_followers_by_join_year": ["post_year", "median_follower_count"],
    "median_followers_by_join_year_and_age_group": ["age_group", "post_year", "median_follower_count"],
}
BACKFILL_TIMEOUT_S = 900


def expected_top_category_by_country(days: list[date]) -> list[tuple[str, str, int]]:
    """The insight worked out from the test's own rows: per country, the most posted category(ies)."""
    counts: Counter[tuple[str, str]] = Counter()
    for number, _ in enumerate(days, 1):
        for ind in day_inds(number, EVENTS):
            rows = event_rows(ind)
            counts[(rows["geo"]["country"], rows["pin"]["category"])] += 1
    best: dict[str, int] = {}
    for (country, _), n in counts.items():
        best[country] = max(best.get(country, 0), n)
    return sorted((c, cat, n) for (c, cat), n in counts.items() if n == best[c])


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def write_day(site: AirflowSite, number: int, day: date) -> None:
    site.pinpipe_side("write-day", "--day", day.isoformat(), "--day-number", str(number), "--events", str(EVENTS))


@pytest.fixture(scope="module")
def daily(site_factory: Callable[[str], AirflowSite]) -> tuple[AirflowSite, dict[str, list[dict]]]:
    """Three separate runs as the data arrives; the tables right after day 1 are kept for test (b)."""
    site = site_factory("daily")
    after_first: dict[str, list[dict]] = {}
    for number, day in enumerate(DAYS, 1):
        write_day(site, number, day)
        # New events reach the log "now" too: the sink task lands them in today's folder.
        site.pinpipe_side("append-log", "--events", "4")
        site.airflow("dags", "test", "pinterest_batch", (day + timedelta(days=1)).isoformat(), timeout=600)
        if number == 1:
            after_first = site.tables()
    return site, after_first


def test_dags_test_runs_the_embedded_pipeline_for_the_interval_day(
    daily: tuple[AirflowSite, dict[str, list[dict]]], report_built: bool
) -> None:
    site, tables = daily
    first = DAYS[0].isoformat()
    # The warehouse holds exactly day 1's events: not the events the sink landed today, no replays.
    assert sorted(r["ind"] for r in tables["batch/pin"]) == day_inds(1, EVENTS)
    assert sorted(r["ind"] for r in tables["batch/user"]) == day_inds(1, EVENTS)
    assert {f"insights/{name}" for name in INSIGHTS} <= set(tables)
    got = sorted((r["country"], r["category"], r["category_count"]) for r in tables["insights/top_category_by_country"])
    assert got == expected_top_category_by_country(DAYS[:1])

    # The sink task drained the log: the events appended "now" landed in today's folder, none of the test days.
    topic_dir = site.pinpipe_home / "lake" / "topics" / "pinterest.pin"
    folders = {str(p.parent.relative_to(topic_dir)) for p in topic_dir.rglob("*.json")}
    test_days = {f"year={d.year:04d}/month={d.month:02d}/day={d.day:02d}" for d in DAYS}
    assert folders - test_days, f"the sink landed nothing from the log: {sorted(folders)}"

    # The day's exports: one CSV per insight with DESIGN.md's columns, the day's answer in it.
    exports = site.pinpipe_home / "exports" / first
    assert sorted(p.name for p in exports.glob("*.csv")) == sorted(f"{n}.csv" for n in INSIGHTS)
    for name, columns in INSIGHTS.items():
        assert read_csv(exports / f"{name}.csv")[0] == columns
    rows = read_csv(exports / "top_category_by_country.csv")[1:]
    assert sorted((c, cat, int(n)) for c, cat, n in rows) == expected_top_category_by_country(DAYS[:1])
    report_states = {s for (s,) in site.query("SELECT state FROM task_instance WHERE task_id = 'write_report'")}
    if report_built:
        assert report_states == {"success"}
        assert (exports / "report.html").stat().st_size > 0
    else:  # `pinpipe report` has not landed: the task is in the DAG, switched off by pinpipe_report=off
        assert report_states == {"skipped"}


def test_three_separate_runs_accumulate_the_days(daily: tuple[AirflowSite, dict[str, list[dict]]]) -> None:
    site, _ = daily
    tables = site.tables()
    assert sorted(r["ind"] for r in tables["batch/pin"]) == [i for n in (1, 2, 3) for i in day_inds(n, EVENTS)]
    got = sorted((r["country"], r["category"], r["category_count"]) for r in tables["insights/top_category_by_country"])
    assert got == expected_top_category_by_country(DAYS)
    runs = site.query("SELECT state FROM dag_run WHERE dag_id = 'pinterest_batch'")
    assert runs == [("success",)] * len(DAYS)


def test_backfill_of_three_days_gives_the_same_tables_as_three_separate_runs(
    daily: tuple[AirflowSite, dict[str, list[dict]]], site_factory: Callable[[str], AirflowSite]
) -> None:
    separate, _ = daily
    site = site_factory("backfill")
    for number, day in enumerate(DAYS, 1):
        write_day(site, number, day)
    site.pinpipe_side("append-log", "--events", "4")
    site.airflow("dags", "reserialize", timeout=180)
    # No --max-active-runs: Airflow 3 would run up to 10 of this backfill's days at once; the DAG's
    # own guards (wait_for_downstream) must keep the days in order.
    site.airflow(
        "backfill", "create", "--dag-id", "pinterest_batch",
        "--from-date", DAYS[0].isoformat(), "--to-date", DAYS[-1].isoformat(), "--reprocess-behavior", "failed",
    )  # fmt: skip
    with site.services():
        deadline = time.monotonic() + BACKFILL_TIMEOUT_S
        while True:
            states = [s for (s,) in site.query("SELECT state FROM dag_run WHERE run_type = 'backfill'")]
            if len(states) == len(DAYS) and all(s in {"success", "failed"} for s in states):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"backfill not done in {BACKFILL_TIMEOUT_S} s: runs {states}\n{site.task_log_tails()}")
            time.sleep(1)  # polling Airflow's recorded state, bounded by the deadline above
    assert states == ["success"] * len(DAYS), site.task_log_tails()

    # Days ran in order, each day's batch after the previous day's export and report had finished.
    tis = site.query(
        "SELECT date(r.data_interval_start), t.task_id, t.state, t.start_date, t.end_date "
        "FROM task_instance t JOIN dag_run r ON r.run_id = t.run_id AND r.dag_id = t.dag_id "
        "WHERE r.run_type = 'backfill'"
    )
    by_day = {(d, task): (state, start, end) for d, task, state, start, end in tis}
    for earlier, later in itertools.pairwise(DAYS):
        batch_start = by_day[(later.isoformat(), "batch_run")][1]
        for task in ("export_insights", "write_report"):
            state, _, end = by_day[(earlier.isoformat(), task)]
            assert state in {"success", "skipped"}
            assert end <= batch_start, f"{later} batch started before {earlier} {task} ended"

    assert site.tables() == separate.tables()
    for day in DAYS:
        ours, theirs = (s.pinpipe_home / "exports" / day.isoformat() for s in (site, separate))
        assert sorted(p.name for p in ours.glob("*.csv")) == sorted(p.name for p in theirs.glob("*.csv"))
        for path in ours.glob("*.csv"):
            assert path.read_bytes() == (theirs / path.name).read_bytes(), f"{day} {path.name}"
