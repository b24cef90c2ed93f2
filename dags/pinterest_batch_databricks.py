"""The original shape: Airflow submits the daily batch to an existing Databricks cluster.

One ``DatabricksSubmitRunOperator`` runs pinpipe's own entry point from its wheel
(``python_wheel_task``: package ``pinpipe``, entry point ``pinpipe``, the console script that
``pinpipe batch run`` is) with ``batch run --engine spark --date <interval's day>``. On Databricks the
Spark engine takes the cluster's active session, so the same cleaning and insight SQL runs there as
on a laptop. The sink is not part of this DAG: on this deployment the lake is filled continuously
(``pinpipe sink run`` as a service, or the Kafka Connect S3 sink the original system used).

Where the settings come from, all resolved when the task runs (templated, never at parse time):

- Connection ``databricks_default``: the workspace host and token (or service principal).
- Variable ``databricks_cluster_id``: the existing cluster to run on.
- Variable ``pinpipe_wheel``: the wheel as a cluster library, built with ``python -m build --wheel``
  (``/Volumes/main/pinpipe/artifacts/pinpipe-0.1.0-py3-none-any.whl``).
- pinpipe's own settings (``PINPIPE_LAKE_URL``, ``PINPIPE_WAREHOUSE_URL`` on ``s3://``, …) are the
  cluster's environment variables (cluster → Advanced options → Spark → Environment variables;
  secrets as ``{{secrets/<scope>/<key>}}``), so nothing about storage is in this file.

docs/ORCHESTRATION.md explains the set-up; docs/SPARK.md the Spark engine.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from airflow.sdk import DAG, CronDataIntervalTimetable

DAG_ID = "pinterest_batch_databricks"
# The day a run covers: the start of its data interval (not ``ds``, which for a manual run is the
# trigger date while the interval is the day before it).
DAY = "{{ data_interval_start.strftime('%Y-%m-%d') }}"

with DAG(
    dag_id=DAG_ID,
    # As in pinterest_batch.py: the data-interval timetable, so the 00:00 UTC run covers the day that ended.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "pinpipe",
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        # The insights are replaced whole by each run: days must not overtake each other.
        "depends_on_past": True,
    },
    tags=["pinpipe", "batch", "databricks"],
    doc_md=__doc__,
) as dag:
    DatabricksSubmitRunOperator(
        task_id="batch_run_spark",
        databricks_conn_id="databricks_default",
        existing_cluster_id="{{ var.value.databricks_cluster_id }}",
        libraries=[{"whl": "{{ var.value.pinpipe_wheel }}"}],
        json={
            "python_wheel_task": {
                "package_name": "pinpipe",
                "entry_point": "pinpipe",
                "parameters": ["batch", "run", "--engine", "spark", "--date", DAY],
            },
        },
        run_name=f"pinpipe batch {DAY}",
        # Databricks returns the existing run for a repeated token: a resubmitted request (network
        # retry) never starts the job twice, while an Airflow retry (new try number) does start anew.
        idempotency_token="pinpipe-{{ run_id }}-{{ ti.try_number }}",
        # A batch that hangs must end so the next day can run.
        timeout_seconds=6 * 3600,
        polling_period_seconds=30,
    )
