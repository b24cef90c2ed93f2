"""The scale-out batch engine: PySpark (``local[*]``, a standalone cluster, Databricks), all on the executors.

It runs the same SQL text as DuckDB (rendered with the Spark dialect of :mod:`pinpipe.clean.sql`),
so the two engines cannot drift. Files are read whole (``wholetext``), one row per sink file, and
split into records by :func:`pinpipe.lake.records.spark_records` (as the Spark stream's file source
splits them), so every record keeps its offset = start offset + line number.

Nothing proportional to the data reaches the driver: the clean rows, the dead letters and the
insights are written by delta-spark from the executors (``format("delta")``, ``MERGE INTO``); the
driver sees counts and commit metrics only. Tables are created with the schemas of
:mod:`pinpipe.clean.schema` and :mod:`pinpipe.insights` and with the protocol delta-rs reads
(no deletion vectors), so the DuckDB engine, ``pinpipe sql`` and the report read and extend
them, and this engine extends what DuckDB wrote.

PySpark is imported inside the methods only: the embedded path never pays for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from pinpipe.clean.schema import (
    CLEAN_SCHEMAS,
    DEAD_LETTER_ADDED,
    DEAD_LETTER_KEY,
    DEAD_LETTER_SCHEMA,
    POSITION_OF_OFFSET,
    RAW_RECORD_SCHEMA,
)
from pinpipe.clean.sql import SPARK, clean_sql, dead_letter_sql, staged_sql
from pinpipe.engines.base import Cleaned
from pinpipe.insights.queries import INSIGHTS, VIEW_COLUMNS, VIEWS
from pinpipe.lake.records import spark_records
from pinpipe.lake.store import LakeFile, LakeStore
from pinpipe.settings import Settings
from pinpipe.spark import needs_of, spark_errors, spark_path, spark_session
from pinpipe.spark.catalog import register_tables
from pinpipe.tables.names import named_tables

USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
_SQL_TYPES = {pa.int64(): "BIGINT", pa.int32(): "INT", pa.string(): "STRING", pa.float64(): "DOUBLE"}


def sql_type(dtype: pa.DataType) -> str:
    """An Arrow type of pinpipe's schemas as Spark SQL spells it."""
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMP"
    if pa.types.is_list(dtype):
        return f"ARRAY<{sql_type(dtype.value_type)}>"
    return _SQL_TYPES[dtype]


def table_ddl(schema: pa.Schema) -> str:
    return ", ".join(f"`{f.name}` {sql_type(f.type)}{'' if f.nullable else ' NOT NULL'}" for f in schema)


def conformed(frame: Any, schema: pa.Schema) -> Any:
    """``frame`` with exactly ``schema``'s columns, in order, cast to its types."""
    from pyspark.sql import functions as F

    if "position" in schema.names and "position" not in frame.columns and "offset" in frame.columns:
        frame = frame.withColumn("position", F.col("offset").cast("string"))  # dense offsets: the same, as text
    return frame.select([F.col(f"`{f.name}`").cast(sql_type(f.type)).alias(f.name) for f in schema])


class DeltaSparkTables:
    """Delta tables written by delta-spark from the executors, each commit carrying pinpipe's metadata."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def exists(self, path: str) -> bool:
        jvm = self.spark.sparkContext._jvm
        return bool(jvm.io.delta.tables.DeltaTable.isDeltaTable(self.spark._jsparkSession, path))

    def ensure(self, path: str, schema: pa.Schema) -> bool:
        """Create the table with ``schema`` unless it exists; whether it did exist. An existing dead_letter
        table written before ``position`` existed gets it (:data:`DEAD_LETTER_ADDED`), filled from ``offset``."""
        if self.exists(path):
            if schema == DEAD_LETTER_SCHEMA:
                self._add_position(path)
            return True
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS delta.`{path}` ({table_ddl(schema)}) USING delta")
        return False

    def _add_position(self, path: str) -> None:
        columns = set(self.spark.read.format("delta").load(path).columns)
        missing = [name for name in DEAD_LETTER_ADDED if name not in columns]
        if missing:
            added = ", ".join(f"`{name}` STRING" for name in missing)
            self.spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({added})")
            self.spark.sql(f"UPDATE delta.`{path}` SET position = {POSITION_OF_OFFSET} WHERE position IS NULL")

    def version(self, path: str) -> int:
        """The table's current version (its latest commit)."""
        return self.latest_commit(path)[0]

    def latest_commit(self, path: str) -> tuple[int, dict[str, int]]:
        """The latest commit's version and operation metrics (rows written, inserted, updated…)."""
        row = self.spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").select("version", "operationMetrics").first()
        metrics = {k: int(v) for k, v in (row[1] or {}).items() if str(v).isdigit()}
        return int(row[0]), metrics

    def last_metrics(self, path: str) -> dict[str, int]:
        return self.latest_commit(path)[1]

    def use_metadata(self, metadata: Mapping[str, str]) -> None:
        """pinpipe's run metadata on the session's commits from now on, as ``userMetadata`` (JSON;
        delta-rs writes the same keys into commitInfo). Set, never unset mid-run: the writes of one
        run share it and may run from several threads at once."""
        self.spark.conf.set(USER_METADATA, json.dumps(dict(metadata), sort_keys=True))

    def forget_metadata(self) -> None:
        self.spark.conf.unset(USER_METADATA)

    def append(self, frame: Any, path: str) -> int:
        frame.write.format("delta").mode("append").save(path)
        return self.last_metrics(path).get("numOutputRows", 0)

    def merge(self, frame: Any, path: str, keys: Sequence[str], *, update: bool) -> int:
        """``MERGE INTO`` on ``keys``: new keys inserted, matched ones updated when ``update``."""
        # the frame's own session: a streaming micro-batch's differs from the engine's
        spark = frame.sparkSession
        view = f"pinpipe_merge_{abs(hash(path))}"
        frame.createOrReplaceTempView(view)
        on = " AND ".join(f"target.`{k}` = source.`{k}`" for k in keys)
        matched = "WHEN MATCHED THEN UPDATE SET * " if update else ""
        try:
            spark.sql(
                f"MERGE INTO delta.`{path}` AS target USING {view} AS source ON {on} "
                f"{matched}WHEN NOT MATCHED THEN INSERT *"
            )
        finally:
            spark.catalog.dropTempView(view)
        return self.last_metrics(path).get("numSourceRows", 0)

    def replace(self, frame: Any, path: str) -> int:
        """The whole table, schema included, replaced in one commit (created if need be)."""
        frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
        return self.last_metrics(path).get("numOutputRows", 0)


class SparkEngine:
    """Batch engine on Spark; ``master`` is ``local[*]``, ``spark://host:7077``, … (ignored on Databricks)."""

    name = "spark"

    def __init__(self, settings: Settings, *, master: str | None = None, session: Any | None = None) -> None:
        with spark_errors():
            if session is None:
                self.spark, self._owned = spark_session(settings, master, app="pinpipe-batch", needs=needs_of(settings))
            else:
                self.spark, self._owned = session, False
            # Parquet timestamps every Delta reader agrees on (Spark's default is INT96).
            self.spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        self.settings = settings
        self.tables = DeltaSparkTables(self.spark)
        self._cached: list[Any] = []
        # location -> table name, to register what this run writes by name (PINPIPE_CATALOG)
        self._names = {table.location: name for name, table in named_tables(settings).items()}

    def _register(self, uri: str) -> None:
        if self.settings.catalog and uri in self._names:
            register_tables(self.spark, self.settings, [self._names[uri]])

    def _raw(self, files: Sequence[LakeFile]) -> Any:
        from pyspark.sql import functions as F

        if not files:
            return self.spark.createDataFrame(
                [], ", ".join(f"`{f.name}` {sql_type(f.type)}" for f in RAW_RECORD_SCHEMA)
            )
        text = self.spark.read.text([spark_path(f.url) for f in files], wholetext=True)
        return spark_records(text, files[0].info.topic, filename=F.input_file_name())

    def clean(self, files: Mapping[str, Sequence[LakeFile]], lake: LakeStore) -> Cleaned:
        with spark_errors():
            read: dict[str, int] = {}
            dead: list[Any] = []
            for kind, kind_files in files.items():
                self._raw(kind_files).createOrReplaceTempView(f"raw_{kind}")
                staged = self.spark.sql(staged_sql(SPARK, kind, f"raw_{kind}")).persist()
                self._cached.append(staged)
                staged.createOrReplaceTempView(f"staged_{kind}")
                read[kind] = staged.count()
                dead.append(self.spark.sql(dead_letter_sql(SPARK, f"staged_{kind}")))
        dead_letters = None
        for frame in dead:
            dead_letters = frame if dead_letters is None else dead_letters.unionByName(frame)

        def rows(kind: str) -> Any:
            # unsorted, as on DuckDB: nothing downstream needs the order, and a global sort is a shuffle
            return self.spark.sql(clean_sql(SPARK, kind, f"staged_{kind}"))

        return Cleaned(records_read=read, dead_letters=dead_letters, rows=rows, writers=4)

    def merge_clean(self, cleaned: Cleaned, kind: str, uri: str, metadata: Mapping[str, str]) -> int:
        """A new table takes the rows as one append; an existing one a ``MERGE INTO`` on ``ind``
        (matched rows updated, as delta-rs does on the DuckDB path: a rerun repairs a table)."""
        path = spark_path(uri)
        frame = conformed(cleaned.rows(kind), CLEAN_SCHEMAS[kind])
        with spark_errors():
            self.tables.use_metadata(metadata)
            if not self.tables.ensure(path, CLEAN_SCHEMAS[kind]):
                written = self.tables.append(frame, path)
            else:
                written = self.tables.merge(frame, path, ("ind",), update=True)
            self._register(uri)
        return written

    def add_dead_letters(self, cleaned: Cleaned, uri: str, started: datetime, metadata: Mapping[str, str]) -> int:
        from pyspark.sql import functions as F

        if cleaned.dead_letters is None:
            return 0
        path = spark_path(uri)
        stamped = cleaned.dead_letters.select(
            F.lit("batch").alias("source"), "*", F.lit(started).cast("timestamp").alias("time")
        )
        frame = conformed(stamped, DEAD_LETTER_SCHEMA)
        with spark_errors():
            self.tables.use_metadata(metadata)
            count = frame.count()
            existed = self.tables.ensure(path, DEAD_LETTER_SCHEMA)
            self._register(uri)
            if count == 0:
                return 0
            if not existed:
                return self.tables.append(frame, path)
            self.tables.merge(frame, path, DEAD_LETTER_KEY, update=False)
        return count

    def _table(self, kind: str, location: str | None) -> Any:
        path = spark_path(location) if location else None
        if path is None or not self.tables.exists(path):
            return self.spark.createDataFrame([], table_ddl(CLEAN_SCHEMAS[kind]).replace(" NOT NULL", ""))
        return self.spark.read.format("delta").load(path)

    def insights(self, tables: Mapping[str, str]) -> dict[str, Any]:
        """The nine queries over the clean tables, each table read once (just the columns they use)
        and kept on the executors for all nine."""
        with spark_errors():
            for kind, view in VIEWS.items():
                frame = self._table(kind, tables.get(kind)).select(*VIEW_COLUMNS[kind]).persist()
                self._cached.append(frame)
                frame.createOrReplaceTempView(view)
            return {name: self.spark.sql(insight.sql) for name, insight in INSIGHTS.items()}

    def replace_insight(self, name: str, result: Any, uri: str, metadata: Mapping[str, str]) -> int:
        path = spark_path(uri)
        # One file, in the query's order: an insight table reads back sorted (they are small). Every
        # column of an insight is nullable, as the query's are, so the write itself makes the table.
        frame = conformed(result, INSIGHTS[name].schema).coalesce(1)
        with spark_errors():
            self.tables.use_metadata(metadata)
            written = self.tables.replace(frame, path)
            self._register(uri)
        return written

    def close(self) -> None:
        self.tables.forget_metadata()
        for frame in self._cached:
            frame.unpersist()
        self._cached.clear()
        if self._owned:
            self.spark.stop()
