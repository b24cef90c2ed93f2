"""The batch job (`pinpipe batch run`, the Airflow DAG's task)."""

from pinpipe.batch.job import BatchSummary, run_batch

__all__ = ["BatchSummary", "run_batch"]
