"""The Spark variant of the stream job (``pinpipe stream run --engine spark``): Structured Streaming.

For clusters. One streaming query per topic kind, reading:

- ``files`` (default, runs anywhere): the lake's landing files ``lake/topics/<prefix>.<kind>/…`` as the
  sink writes them (both partitioners, ``.json`` and ``.json.gz``), with the text source's explicit
  schema (``value STRING``), one row per file (``wholetext``), split into lines with ``posexplode`` so
  each record keeps its offset = file start offset + line number;
- ``kafka``: ``format("kafka")`` on the topics, where the cluster has the Kafka connector jars;
- ``kinesis``: Databricks' ``format("kinesis")`` on the streams, where it exists.

The connector paths are thin and configuration-driven (``PINPIPE_KAFKA__*`` properties pass through as
``kafka.*`` options): they only map their columns onto (topic, partition, offset, value).

Each micro-batch (``foreachBatch``) is cleaned by Spark SQL rendered from the shared definition
(:mod:`pinpipe.clean.sql`, Spark dialect: the same rules the batch job runs), deduplicated against the
table's ``ind`` set, and committed through delta-rs with the app transaction
``(pinpipe.spark/<topic>, batch_id)``. Spark replays a batch with the same id after a crash (its offset
log is written before the batch runs, its commit log after), so a batch id at or below the stored
version is skipped: exactly once, with the table as the judge. Dead letters go first, under their own
app id, as in the Python engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from pinpipe.clean.batch import dead_letter_table
from pinpipe.clean.schema import CLEAN_SCHEMAS, DEAD_LETTER_SCHEMA, conform
from pinpipe.clean.sql import SPARK, clean_sql, dead_letter_sql, staged_sql
from pinpipe.errors import ConfigError
from pinpipe.settings import TABLES, Settings
from pinpipe.stream.positions import DenseCodec
from pinpipe.stream.table import DeltaSink
from pinpipe.tables import dead_letter_table_uri, storage_options, warehouse_table

APP_PREFIX = "pinpipe.spark"
# <topic>+<partition>+<start offset:010d>.json[.gz], the sink's file name (pinpipe.lake.layout).
FILE_PARTITION = r"\+([0-9]+)\+[0-9]+\.json(\.gz)?$"
FILE_START = r"\+([0-9]+)\.json(\.gz)?$"

Source = Literal["files", "kafka", "kinesis"]


@dataclass
class SparkStreamOptions:
    """``until_idle`` → ``trigger(availableNow=True)``; else a processing-time trigger every ``trigger_ms``."""

    until_idle: bool = False
    source: Source = "files"
    trigger_ms: int = 1000
    max_files_per_trigger: int | None = None
    checkpoint: str | None = None


@dataclass
class SparkStreamSummary:
    batches: int = 0
    skipped: int = 0
    records: int = 0
    written: int = 0
    dead_letters: int = 0
    per_kind: dict[str, int] = field(default_factory=dict)


def app_id(topic: str, *, dead: bool = False) -> str:
    return f"{APP_PREFIX}/{topic}" + ("/dead_letter" if dead else "")


def _spark_url(url: str) -> str:
    """Hadoop names S3 ``s3a://`` (the S3A connector); Databricks accepts both."""
    return "s3a://" + url[len("s3://") :] if url.startswith("s3://") else url


class BatchWriter:
    """The ``foreachBatch`` body for one topic kind: clean, dedupe, commit with the batch id as version."""

    def __init__(self, kind: str, topic: str, settings: Settings, summary: SparkStreamSummary) -> None:
        self.kind = kind
        self.topic = topic
        self.summary = summary
        codec = DenseCodec()
        uri = warehouse_table(settings, "stream", kind)
        self.rows = DeltaSink(uri, CLEAN_SCHEMAS[kind], codec, storage_options=storage_options(uri))
        dead_uri = dead_letter_table_uri(settings)
        self.dead = DeltaSink(dead_uri, DEAD_LETTER_SCHEMA, codec, key=None, storage_options=storage_options(dead_uri))
        self.app, self.dead_app = app_id(topic), app_id(topic, dead=True)
        self.rows.stored(self.app)
        self.dead.stored(self.dead_app)

    def __call__(self, frame: Any, batch_id: int) -> None:
        held = self.rows.expected.get(self.app)
        if held is not None and batch_id <= held.offset:
            self.summary.skipped += 1  # replayed after a crash: the table already holds this batch
            return
        spark = frame.sparkSession
        view = f"pinpipe_raw_{self.kind}_{batch_id}"
        frame.createOrReplaceTempView(view)
        staged = spark.sql(staged_sql(SPARK, self.kind, view)).persist()
        try:
            staged.createOrReplaceTempView(f"{view}_staged")
            dead = spark.sql(dead_letter_sql(SPARK, f"{view}_staged")).toArrow()
            clean_rows = spark.sql(clean_sql(SPARK, self.kind, f"{view}_staged")).toArrow()
            clean = conform(clean_rows, CLEAN_SCHEMAS[self.kind])
            records = staged.count()
        finally:
            staged.unpersist()
            spark.catalog.dropTempView(view)
        dead_held = self.dead.expected.get(self.dead_app)
        if dead.num_rows and (dead_held is None or batch_id > dead_held.offset):
            self.dead.commit(dead_letter_table(dead, "stream"), {self.dead_app: (batch_id, batch_id)})
        known = self.rows.keys
        fresh = clean.filter(pa.array([i not in known for i in clean["ind"].to_pylist()], pa.bool_()))
        self.rows.commit(fresh, {self.app: (batch_id, batch_id)})
        summary = self.summary
        summary.batches += 1
        summary.records += records
        summary.written += fresh.num_rows
        summary.dead_letters += dead.num_rows
        summary.per_kind[self.kind] = summary.per_kind.get(self.kind, 0) + fresh.num_rows


def lake_records(spark: Any, settings: Settings, topic: str, options: SparkStreamOptions) -> Any:
    """The topic's landing files as a stream of (topic, partition, offset, value) records."""
    from pyspark.sql import functions as F

    assert settings.lake_url is not None
    path = _spark_url(settings.lake_url.rstrip("/")) + f"/topics/{topic}"
    reader = spark.readStream.format("text").option("wholetext", True).option("recursiveFileLookup", True)
    if options.max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", options.max_files_per_trigger)
    files = reader.load(path).select(F.col("_metadata.file_path").alias("filename"), "value")
    split = files.select("filename", F.split("value", "\n").alias("lines"))
    lines = split.select("filename", F.size("lines").alias("n"), F.posexplode("lines").alias("pos", "line")).where(
        "NOT (line = '' AND pos = n - 1)"
    )  # the newline that ends the last record
    return lines.select(
        F.lit(topic).alias("topic"),
        F.regexp_extract("filename", FILE_PARTITION, 1).cast("bigint").alias("partition"),
        (F.regexp_extract("filename", FILE_START, 1).cast("bigint") + F.col("pos")).alias("offset"),
        F.col("line").alias("value"),
    )


def kafka_records(spark: Any, settings: Settings, topic: str, options: SparkStreamOptions) -> Any:
    """``format("kafka")`` (needs spark-sql-kafka on the cluster); librdkafka-style settings pass through."""
    url = settings.log_url or ""
    if not url.startswith("kafka://"):
        raise ConfigError(f"--source kafka needs PINPIPE_LOG_URL=kafka://…, not {url!r}")
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", url[len("kafka://") :])
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
    )
    for key, value in settings.kafka.items():
        reader = reader.option(f"kafka.{key}", value)
    return reader.load().selectExpr(
        "topic", "CAST(partition AS BIGINT) AS partition", "offset", "CAST(value AS STRING) AS value"
    )


def kinesis_records(spark: Any, settings: Settings, stream: str, options: SparkStreamOptions) -> Any:
    """Databricks' ``format("kinesis")``. Sequence numbers do not fit the cleaning's int64 offset, so a
    record's offset there is its arrival order within the batch (dedupe keeps the earliest)."""
    url = settings.stream_log_url or ""
    if not url.startswith("kinesis://"):
        raise ConfigError(f"--source kinesis needs PINPIPE_STREAM_LOG_URL=kinesis://<region>, not {url!r}")
    frame = (
        spark.readStream.format("kinesis")
        .option("streamName", stream)
        .option("region", url[len("kinesis://") :].strip("/"))
        .option("initialPosition", "trim_horizon")
        .load()
    )
    return frame.selectExpr(
        f"'{stream}' AS topic",
        "CAST(0 AS BIGINT) AS partition",
        "CAST(unix_micros(approximateArrivalTimestamp) AS BIGINT) AS offset",
        "CAST(data AS STRING) AS value",
    )


SOURCES: dict[str, Callable[[Any, Settings, str, SparkStreamOptions], Any]] = {
    "files": lake_records,
    "kafka": kafka_records,
    "kinesis": kinesis_records,
}


def run_spark_stream(
    settings: Settings, options: SparkStreamOptions | None = None, *, session: Any | None = None
) -> SparkStreamSummary:
    """Run the three queries; with ``until_idle``, until every file/record available now is applied."""
    from pinpipe.engines.spark import spark_session

    options = options or SparkStreamOptions()
    spark, owned = (session, False) if session is not None else spark_session(settings.spark_master)
    summary = SparkStreamSummary()
    checkpoint_root = options.checkpoint or str(settings.checkpoints_dir / "stream-spark")
    queries = []
    try:
        for kind in TABLES:
            topic = settings.stream(kind) if options.source == "kinesis" else settings.topic(kind)
            records = SOURCES[options.source](spark, settings, topic, options)
            writer = records.writeStream.foreachBatch(BatchWriter(kind, topic, settings, summary)).option(
                "checkpointLocation", f"{checkpoint_root}/{topic}"
            )
            if options.until_idle:
                writer = writer.trigger(availableNow=True)
            else:
                writer = writer.trigger(processingTime=f"{options.trigger_ms} milliseconds")
            queries.append(writer.queryName(f"pinpipe_stream_{kind}").start())
        for query in queries:
            query.awaitTermination()
    except KeyboardInterrupt:
        pass
    finally:
        for query in queries:
            if query.isActive:
                query.stop()
        if owned:
            spark.stop()
    return summary
