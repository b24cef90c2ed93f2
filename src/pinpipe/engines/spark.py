"""The scale-out batch engine: PySpark (``local[*]``, a standalone cluster, Databricks).

It runs the same SQL text as DuckDB (rendered with the Spark dialect of :mod:`pinpipe.clean.sql`),
so the two engines cannot drift. Files are read whole (``wholetext``), one row per sink file, and
split into lines with ``posexplode`` so every record keeps its offset = start offset + line number.
PySpark is imported here only: the embedded path never pays for it, and a missing install raises
:class:`~pinpipe.errors.MissingDependencyError` with the pip line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from pinpipe.clean.schema import CLEAN_SCHEMAS, RAW_RECORD_SCHEMA
from pinpipe.clean.sql import SPARK, clean_sql, dead_letter_sql, staged_sql
from pinpipe.engines.base import Cleaned, Rows
from pinpipe.engines.lake import LakeFile
from pinpipe.errors import MissingDependencyError
from pinpipe.insights.queries import INSIGHTS, VIEWS
from pinpipe.tables.delta import open_table

LOCAL_DRIVER_MEMORY = "4g"
_PARTITION = r"\+([0-9]+)\+[0-9]+\.json(\.gz)?$"
_START = r"\+([0-9]+)\.json(\.gz)?$"


def _spark_url(url: str) -> str:
    """Hadoop names S3 ``s3a://`` (the S3A connector); Databricks accepts both."""
    return "s3a://" + url[len("s3://") :] if url.startswith("s3://") else url


def spark_session(master: str) -> tuple[Any, bool]:
    """The active session if there is one (Databricks, tests), else a new one on ``master``.

    Returns (session, created): a session we did not create is never stopped by us.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise MissingDependencyError("the Spark engine", "spark", "pyspark") from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        active.conf.set("spark.sql.session.timeZone", "UTC")
        return active, False
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):  # the cluster owns the master: never override it
        return SparkSession.builder.getOrCreate(), False
    builder = SparkSession.builder.master(master).appName("pinpipe-batch")
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Local mode runs the executors inside the driver JVM: Spark's default 1 GB heap holds the
        # cached staged records and the collected clean rows of 1M events no longer (OutOfMemoryError).
        builder = (
            builder.config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.driver.memory", os.environ.get("PINPIPE_SPARK_DRIVER_MEMORY", LOCAL_DRIVER_MEMORY))
        )
    session = builder.config("spark.sql.session.timeZone", "UTC").getOrCreate()
    return session, True


class SparkEngine:
    """Batch engine on Spark; ``master`` is ``local[*]``, ``spark://host:7077``, … (ignored on Databricks)."""

    name = "spark"

    def __init__(self, master: str = "local[*]", session: Any | None = None) -> None:
        if session is None:
            self.spark, self._owned = spark_session(master)
        else:
            self.spark, self._owned = session, False
        self._cached: list[Any] = []

    def _raw(self, files: Sequence[LakeFile]) -> Any:
        from pyspark.sql import functions as F

        if not files:
            return self.spark.createDataFrame(RAW_RECORD_SCHEMA.empty_table())
        topic = files[0].topic
        text = self.spark.read.text([_spark_url(f.url) for f in files], wholetext=True)
        # Strip the newline that ends the last record, then split: the exploded rows must not carry the
        # file's whole text (1,000 records per file × its size blew a 1 GB heap when they did).
        lines = text.where(F.length("value") > 0).select(
            F.input_file_name().alias("filename"),
            F.posexplode(F.split(F.regexp_replace("value", "\n\\z", ""), "\n")).alias("pos", "line"),
        )
        return lines.select(
            F.lit(topic).alias("topic"),
            F.regexp_extract("filename", _PARTITION, 1).cast("bigint").alias("partition"),
            (F.regexp_extract("filename", _START, 1).cast("bigint") + F.col("pos")).alias("offset"),
            F.col("line").alias("value"),
        )

    def clean(self, files: Mapping[str, Sequence[LakeFile]], lake: object) -> Cleaned:
        read: dict[str, int] = {}
        dead: list[pa.Table] = []
        for kind, kind_files in files.items():
            self._raw(kind_files).createOrReplaceTempView(f"raw_{kind}")
            staged = self.spark.sql(staged_sql(SPARK, kind, f"raw_{kind}")).persist()
            self._cached.append(staged)
            staged.createOrReplaceTempView(f"staged_{kind}")
            read[kind] = staged.count()
            dead.append(self.spark.sql(dead_letter_sql(SPARK, f"staged_{kind}")).toArrow())
        dead_letters = pa.concat_tables(dead) if dead else pa.table({})

        def rows(kind: str) -> Rows:
            # unsorted, as on DuckDB: nothing downstream needs the order, and a global sort is a shuffle
            return self.spark.sql(clean_sql(SPARK, kind, f"staged_{kind}")).toArrow()

        return Cleaned(records_read=read, dead_letters=dead_letters, rows=rows)

    def _table(self, kind: str, location: str | None) -> Any:
        """A warehouse table as a DataFrame: natively with Delta jars, else its live Parquet files."""
        table = open_table(location) if location else None
        if table is None:
            return self.spark.createDataFrame(CLEAN_SCHEMAS[kind].empty_table())
        if "delta" in (self.spark.conf.get("spark.sql.extensions", None) or "").lower():
            return self.spark.read.format("delta").load(_spark_url(location or ""))
        files = table.file_uris()
        if not files:
            return self.spark.createDataFrame(CLEAN_SCHEMAS[kind].empty_table())
        return self.spark.read.parquet(*[_spark_url(f) for f in files])

    def insights(self, tables: Mapping[str, str]) -> dict[str, pa.Table]:
        for kind, view in VIEWS.items():
            self._table(kind, tables.get(kind)).createOrReplaceTempView(view)
        return {name: self.spark.sql(insight.sql).toArrow() for name, insight in INSIGHTS.items()}

    def close(self) -> None:
        for frame in self._cached:
            frame.unpersist()
        self._cached.clear()
        if self._owned:
            self.spark.stop()
