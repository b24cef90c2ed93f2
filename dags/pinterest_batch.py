"""The daily batch as an Airflow 3 DAG: drain the sink, batch the day, export the insights and the report.

Each task is one `pinpipe` command, run through ``@task.bash`` with pinpipe's own executable. Why a
command and not ``@task`` importing pinpipe: Airflow 3.3 caps fastapi below the version pinpipe pins,
so the two cannot share an environment. The CLI is pinpipe's public, versioned contract (the cron
line in docs/ORCHESTRATION.md runs exactly the same commands), its exit status fails the task and
its output streams into the task log. ``@task.external_python`` would also need the same Python
minor version on both sides and pickles the callable; a command needs only a path, which is all
MWAA (startup script), Astronomer (Dockerfile) or a self-hosted worker has to provide.

Where the settings come from, read when a task runs (never at parse time):

==========================  ===============================  =========================================
Airflow Variable            else environment                 meaning
==========================  ===============================  =========================================
``pinpipe_bin``             ``PINPIPE_BIN``                  the pinpipe executable (default: on PATH)
``pinpipe_home``            ``PINPIPE_HOME``                 pinpipe's home (required: tasks run in a
                                                             temporary folder, a relative default
                                                             would vanish with it)
``pinpipe_config``          ``PINPIPE_CONFIG``               a pinpipe.toml (log/lake/warehouse URLs…)
``pinpipe_exports_dir``     ``PINPIPE_EXPORTS_DIR``          default ``<home>/exports``
``pinpipe_export_format``   ``PINPIPE_EXPORT_FORMAT``        csv (default), json or parquet
``pinpipe_engine``          ``PINPIPE_ENGINE``               duckdb (pinpipe's default) or spark
``pinpipe_report``          ``PINPIPE_REPORT``               ``off`` skips the HTML report task
==========================  ===============================  =========================================

Every other ``PINPIPE_*`` variable of the worker (``PINPIPE_LOG_URL``, ``PINPIPE_LAKE_URL``, secrets…)
reaches pinpipe unchanged: the tasks inherit the worker's environment. Secrets belong there or in a
secrets backend, never in a command line, which Airflow logs.

Parse-time settings (environment only: Airflow advises against Variable look-ups in top-level code):
``PINPIPE_DAG_CATCHUP`` (true/false; unset = Airflow's ``[scheduler] catchup_by_default``) and
``PINPIPE_DAG_START_DATE`` (YYYY-MM-DD, default 2026-01-01).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Variable, dag, task
from airflow.sdk.exceptions import AirflowSkipException

DAG_ID = "pinterest_batch"
SCHEDULE = "0 0 * * *"
DEFAULT_START_DATE = "2026-01-01"
EXPORT_FORMATS = ("csv", "json", "parquet")
ENGINES = ("duckdb", "spark")

Lookup = Callable[[str], str | None]


def _airflow_variable(name: str) -> str | None:
    """An Airflow Variable (metadata DB, ``AIRFLOW_VAR_*`` or a secrets backend), None when unset."""
    value = Variable.get(name, default=None)
    return None if value in (None, "") else str(value)


def _env(name: str) -> str | None:
    value = os.environ.get(name, "")
    return value or None


@dataclass(frozen=True)
class PinpipeTarget:
    """Where pinpipe lives and what its tasks write, resolved when a task runs."""

    executable: str
    home: str
    config: str | None
    exports_dir: str
    export_format: str
    engine: str | None
    report: bool = True

    @classmethod
    def resolve(cls, variable: Lookup = _airflow_variable, env: Lookup = _env) -> PinpipeTarget:
        """Variables win over the environment, so an operator can repoint a deployment from the UI."""

        def pick(var_name: str, env_name: str) -> str | None:
            return variable(var_name) or env(env_name)

        home = pick("pinpipe_home", "PINPIPE_HOME")
        if home is None:
            raise ValueError(
                "pinpipe's home is not set: set the Airflow Variable 'pinpipe_home' or PINPIPE_HOME on the "
                "workers (tasks run in a temporary folder, so pinpipe's relative default would be lost)"
            )
        export_format = pick("pinpipe_export_format", "PINPIPE_EXPORT_FORMAT") or "csv"
        if export_format not in EXPORT_FORMATS:
            raise ValueError(f"export format {export_format!r} is not one of {', '.join(EXPORT_FORMATS)}")
        engine = pick("pinpipe_engine", "PINPIPE_ENGINE")
        if engine is not None and engine not in ENGINES:
            raise ValueError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
        return cls(
            executable=pick("pinpipe_bin", "PINPIPE_BIN") or "pinpipe",
            home=home,
            config=pick("pinpipe_config", "PINPIPE_CONFIG"),
            exports_dir=pick("pinpipe_exports_dir", "PINPIPE_EXPORTS_DIR") or os.path.join(home, "exports"),
            export_format=export_format,
            engine=engine,
            report=(pick("pinpipe_report", "PINPIPE_REPORT") or "on").strip().lower()
            not in {"off", "false", "0", "no"},
        )

    def command(self, *args: str) -> str:
        """One shell-quoted pinpipe command; the home and config go as flags so nothing depends on cwd."""
        argv = [self.executable, "--home", self.home]
        if self.config is not None:
            argv += ["--config", self.config]
        return shlex.join([*argv, *args])

    def day_exports(self, day: str) -> str:
        return os.path.join(self.exports_dir, day)


def interval_day(data_interval_start: datetime | None) -> str:
    """The UTC day (YYYY-MM-DD) a run covers: the day its data interval starts.

    With the daily data-interval timetable the run that starts at 00:00 UTC on D+1 covers D, so the
    lake's day partition D is complete (record times, not the wall clock, place records in days).
    """
    if data_interval_start is None:
        raise ValueError("this run has no data interval; trigger it with a logical date")
    return data_interval_start.astimezone(UTC).date().isoformat()


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"PINPIPE_DAG_CATCHUP={text!r}: use true or false")


def dag_options(env: Lookup = _env) -> dict[str, Any]:
    """Parse-time options from the environment; catchup is left to Airflow's config unless set."""
    start = datetime.strptime(env("PINPIPE_DAG_START_DATE") or DEFAULT_START_DATE, "%Y-%m-%d").replace(tzinfo=UTC)
    options: dict[str, Any] = {"start_date": start}
    catchup = env("PINPIPE_DAG_CATCHUP")
    if catchup is not None:
        options["catchup"] = _parse_bool(catchup)
    return options


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "pinpipe",
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    # Days run strictly one after another, even in a backfill: Airflow 3 gives a backfill its own
    # max_active_runs (10 by default) instead of the DAG's, measured here running three days at once.
    # The insights and the per-day exports read "the latest" tables, so day D+1's batch must wait for
    # day D's export and report: wait_for_downstream (which implies depends_on_past) says exactly that.
    "wait_for_downstream": True,
    # A hung task must end so its retry (or the next day) can run: the DAG allows one run at a time.
    "execution_timeout": timedelta(hours=6),
}

TAGS: Sequence[str] = ("pinpipe", "batch")


@dag(
    dag_id=DAG_ID,
    # Explicitly the data-interval timetable: Airflow 3 turns a bare cron string into a trigger
    # timetable whose interval is the single instant it fires, which would make the run at 00:00 on
    # D+1 process D+1 (still empty) instead of the day that just ended.
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
    # The sink is one consumer group draining the log: two runs at once would only contend for it.
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=list(TAGS),
    doc_md=__doc__,
    **dag_options(),
)
def pinterest_batch() -> None:
    """Drain the sink, then batch the interval's day, then export its insights and report."""

    @task.bash
    def drain_sink() -> str:
        """Land everything the log holds so the day's lake partitions are complete.

        Idempotent: file names come from offsets, so a rerun rewrites nothing or the same bytes.
        """
        return PinpipeTarget.resolve().command("sink", "run", "--until-idle")

    @task.bash
    def batch_run(data_interval_start: datetime | None = None) -> str:
        """Clean the day's lake partitions into the warehouse (merged on ind) and replace the insights."""
        target = PinpipeTarget.resolve()
        # --require-data: a day whose lake partitions are empty (a wrong lake URL, a sink that never
        # ran) fails the task instead of passing with stale insights behind it
        args = ["batch", "run", "--date", interval_day(data_interval_start), "--require-data"]
        if target.engine is not None:
            args += ["--engine", target.engine]
        return target.command(*args)

    @task.bash
    def export_insights(data_interval_start: datetime | None = None) -> str:
        """Write one file per insight into the day's own folder: a rerun overwrites the same files."""
        target = PinpipeTarget.resolve()
        out = target.day_exports(interval_day(data_interval_start))
        return target.command("insights", "export", "--out", out, "--format", target.export_format)

    @task.bash
    def write_report(data_interval_start: datetime | None = None) -> str:
        """The day's self-contained HTML report, next to that day's exports."""
        target = PinpipeTarget.resolve()
        if not target.report:
            raise AirflowSkipException("the report is switched off (Variable pinpipe_report / PINPIPE_REPORT)")
        out = os.path.join(target.day_exports(interval_day(data_interval_start)), "report.html")
        return target.command("report", "--out", out)

    batch = batch_run()
    drain_sink() >> batch
    batch >> [export_insights(), write_report()]


pinterest_batch()
