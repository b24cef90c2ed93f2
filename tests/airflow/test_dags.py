"""Both DAGs load in a real DagBag and have the shape the issue asks for; settings resolve as documented."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from tests.airflow.harness import DAGS

pytest.importorskip("airflow")

from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import CronDataIntervalTimetable


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def batch_module() -> ModuleType:
    """The DAG file as a module, for its pure helpers (the DagBag keeps its own copy)."""
    spec = importlib.util.spec_from_file_location("pinterest_batch_under_test", DAGS / "pinterest_batch.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_both_dags_import_cleanly(bag: DagBag) -> None:
    assert bag.import_errors == {}
    assert {"pinterest_batch", "pinterest_batch_databricks"} <= set(bag.dags)


@pytest.mark.parametrize("dag_id", ["pinterest_batch", "pinterest_batch_databricks"])
def test_daily_at_midnight_utc_over_data_intervals(bag: DagBag, dag_id: str) -> None:
    dag = bag.dags[dag_id]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 0 * * *"
    assert str(dag.timetable.timezone) == "UTC"
    assert dag.max_active_runs == 1


def test_batch_dag_tasks_order_and_retries(bag: DagBag) -> None:
    dag = bag.dags["pinterest_batch"]
    assert set(dag.task_ids) == {"drain_sink", "batch_run", "export_insights", "write_report"}
    assert dag.get_task("drain_sink").downstream_task_ids == {"batch_run"}
    assert dag.get_task("batch_run").downstream_task_ids == {"export_insights", "write_report"}
    for task in dag.tasks:
        assert task.retries == 3
        assert task.retry_delay == timedelta(minutes=2)
        # Days never overtake each other, whatever the backfill's own max_active_runs.
        assert task.wait_for_downstream and task.depends_on_past


def test_databricks_dag_submits_the_spark_batch_for_the_interval_day(bag: DagBag) -> None:
    from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

    dag = bag.dags["pinterest_batch_databricks"]
    (task,) = dag.tasks
    assert isinstance(task, DatabricksSubmitRunOperator)
    assert task.databricks_conn_id == "databricks_default"
    assert task.retries == 3 and task.retry_delay == timedelta(minutes=2)
    assert task.existing_cluster_id == "{{ var.value.databricks_cluster_id }}"
    assert task.libraries == [{"whl": "{{ var.value.pinpipe_wheel }}"}]
    wheel_task = task.render_template(task.json, {"data_interval_start": datetime(2026, 3, 1, tzinfo=UTC)})
    assert wheel_task["python_wheel_task"] == {
        "package_name": "pinpipe",
        "entry_point": "pinpipe",
        "parameters": ["batch", "run", "--engine", "spark", "--date", "2026-03-01"],
    }


def test_settings_variables_win_over_environment(batch_module: ModuleType) -> None:
    variables = {"pinpipe_home": "/srv/pinpipe", "pinpipe_bin": "/opt/pinpipe/bin/pinpipe"}
    env = {"PINPIPE_HOME": "/ignored", "PINPIPE_CONFIG": "/etc/pinpipe.toml", "PINPIPE_EXPORT_FORMAT": "parquet"}
    target = batch_module.PinpipeTarget.resolve(variable=variables.get, env=env.get)
    assert target.command("batch", "run", "--date", "2026-03-01") == (
        "/opt/pinpipe/bin/pinpipe --home /srv/pinpipe --config /etc/pinpipe.toml batch run --date 2026-03-01"
    )
    assert target.day_exports("2026-03-01") == "/srv/pinpipe/exports/2026-03-01"
    assert target.export_format == "parquet"
    assert target.report is True


def test_settings_quote_paths_and_refuse_a_missing_home(batch_module: ModuleType) -> None:
    target = batch_module.PinpipeTarget.resolve(variable=lambda _: None, env={"PINPIPE_HOME": "/data/my home"}.get)
    assert target.command("sink", "run") == "pinpipe --home '/data/my home' sink run"
    with pytest.raises(ValueError, match="pinpipe_home"):
        batch_module.PinpipeTarget.resolve(variable=lambda _: None, env=lambda _: None)
    with pytest.raises(ValueError, match="export format"):
        batch_module.PinpipeTarget.resolve(
            variable=lambda _: None, env={"PINPIPE_HOME": "/h", "PINPIPE_EXPORT_FORMAT": "xls"}.get
        )


def test_interval_day_is_the_utc_day_the_interval_starts(batch_module: ModuleType) -> None:
    from zoneinfo import ZoneInfo

    assert batch_module.interval_day(datetime(2026, 3, 1, tzinfo=UTC)) == "2026-03-01"
    # 2026-03-01 00:00 UTC seen from New York is still 28 February there: the UTC day counts.
    assert batch_module.interval_day(datetime(2026, 2, 28, 19, tzinfo=ZoneInfo("America/New_York"))) == "2026-03-01"
    with pytest.raises(ValueError):
        batch_module.interval_day(None)


def test_catchup_and_start_date_come_from_the_environment(batch_module: ModuleType) -> None:
    options = batch_module.dag_options({"PINPIPE_DAG_CATCHUP": "true", "PINPIPE_DAG_START_DATE": "2025-06-01"}.get)
    assert options == {"catchup": True, "start_date": datetime(2025, 6, 1, tzinfo=UTC)}
    assert "catchup" not in batch_module.dag_options(lambda _: None)  # Airflow's catchup_by_default decides
    with pytest.raises(ValueError):
        batch_module.dag_options({"PINPIPE_DAG_CATCHUP": "sometimes"}.get)


def test_the_batch_task_fails_a_day_without_lake_files(bag: DagBag, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduled batch passes --require-data: an empty day is a failed task, not stale insights."""
    monkeypatch.setenv("AIRFLOW_VAR_PINPIPE_HOME", "/srv/pinpipe")
    monkeypatch.setenv("AIRFLOW_VAR_PINPIPE_BIN", "/opt/pinpipe/bin/pinpipe")
    task = bag.dags["pinterest_batch"].get_task("batch_run")
    command = task.python_callable(data_interval_start=datetime(2026, 3, 1, tzinfo=UTC))
    assert command.endswith("batch run --date 2026-03-01 --require-data"), command


def test_dag_files_are_all_accounted_for() -> None:
    assert sorted(p.name for p in Path(DAGS).glob("*.py")) == ["pinterest_batch.py", "pinterest_batch_databricks.py"]
