"""The Spark variant of the stream job (``pinpipe stream run --engine spark``): Structured Streaming.

The seed's Databricks streaming notebook, on open-source Spark. One streaming query per table kind,
reading one of:

- ``kafka`` (the scale-out path): ``format("kafka")`` on the streams ``streaming-<prefix>-<kind>`` of
  ``PINPIPE_STREAM_LOG_URL=kafka://…`` — the same records the Python stream job reads, at
  ``read_committed``; the Kafka connector comes from the jar cache (``make jars``) or the cluster;
- ``files`` (runs anywhere): the lake's landing files of the topics as the sink writes them (both
  partitioners, ``.json`` and ``.json.gz``), one row per file (``wholetext``), split into records as
  the Spark batch engine splits them (:func:`pinpipe.lake.records.spark_records`), so each record
  keeps its offset = file start offset + line number;
- ``kinesis``: Databricks' built-in ``format("kinesis")``, on Databricks only: no open-source
  Structured Streaming Kinesis source for Spark 4 is on Maven Central, so elsewhere it is refused in
  one line and the Kinesis route runs through the Python stream job.

Each micro-batch (``foreachBatch``) is decoded as the Python job decodes (a row's JSON, or base64 of
it), cleaned by Spark SQL rendered from the shared definition (:mod:`pinpipe.clean.sql`), reduced to
the ``ind`` not yet in its table by an anti-join with the table inside Spark, and appended by
delta-spark with ``txnAppId`` = the query's id and ``txnVersion`` = the batch id. Spark replays a
batch with the same id after a crash (its offset log is written before the batch runs, its commit log
after); Delta skips a write whose version it already holds, and the anti-join drops rows an earlier
run wrote: every ``ind`` once. Dead letters are appended first, under an app id of their own with the
same batch id, so a replay adds none. Nothing is collected to the driver.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pinpipe.clean.schema import CLEAN_SCHEMAS, DEAD_LETTER_SCHEMA
from pinpipe.clean.sql import SPARK, clean_sql, dead_letter_sql, staged_sql
from pinpipe.engines.spark import DeltaSparkTables, conformed
from pinpipe.errors import ConfigError
from pinpipe.lake.layout import topic_prefix
from pinpipe.lake.records import spark_records
from pinpipe.settings import TABLES, Settings
from pinpipe.spark import needs_of, spark_errors, spark_path, spark_session
from pinpipe.spark.catalog import register_tables
from pinpipe.stream.decode import MAX_BASE64_LAYERS
from pinpipe.stream.lock import WarehouseLock
from pinpipe.tables import dead_letter_table_uri, warehouse_table

APP_PREFIX = "pinpipe.spark"
DEAD_LETTER_SOURCE = "stream"

Source = Literal["files", "kafka", "kinesis"]


@dataclass
class SparkStreamOptions:
    """``until_idle`` → ``trigger(availableNow=True)``; else a processing-time trigger every ``trigger_ms``."""

    until_idle: bool = False
    source: Source = "files"
    trigger_ms: int = 1000
    max_files_per_trigger: int | None = None
    max_offsets_per_trigger: int | None = None
    checkpoint: str | None = None


@dataclass
class SparkStreamSummary:
    batches: int = 0
    skipped: int = 0  # replayed batch ids Delta already held (after a crash)
    records: int = 0
    written: int = 0
    dead_letters: int = 0
    per_kind: dict[str, int] = field(default_factory=dict)


def app_id(topic: str, *, dead: bool = False) -> str:
    return f"{APP_PREFIX}/{topic}" + ("/dead_letter" if dead else "")


_B64 = "'^[A-Za-z0-9+/_-]+={0,2}$'"


def _layer(text: str) -> str:
    """One base64 layer off ``text`` unless it is already a JSON object (as :func:`decode.row_text`)."""
    inner = f"trim(BOTH '\"' FROM trim({text}))"
    decode = "CAST(try_to_binary(translate({t}, '-_', '+/'), 'base64') AS STRING)"
    return (
        f"CASE WHEN ltrim({text}) LIKE '{{%' THEN {text}"
        f" WHEN trim({text}) LIKE '\"%\"' AND regexp_like({inner}, {_B64}) THEN {decode.format(t=inner)}"
        f" WHEN regexp_like(trim({text}), {_B64}) THEN {decode.format(t=f'trim({text})')}"
        f" ELSE {text} END"
    )


def decoded_value_sql(column: str = "value") -> str:
    """The row's JSON text of a record, base64 layers removed (at most :data:`MAX_BASE64_LAYERS`)."""
    text = f"CAST({column} AS STRING)"
    for _ in range(MAX_BASE64_LAYERS):
        text = _layer(text)
    return text


class BatchWriter:
    """The ``foreachBatch`` body for one table kind: decode, clean, dedupe on ``ind``, append once."""

    def __init__(self, kind: str, topic: str, settings: Settings, summary: SparkStreamSummary, tables: Any) -> None:
        self.kind = kind
        self.topic = topic
        self.summary = summary
        self.tables: DeltaSparkTables = tables
        self.path = spark_path(warehouse_table(settings, "stream", kind))
        self.dead_path = spark_path(dead_letter_table_uri(settings))
        self.app = app_id(topic)
        self.version: int | None = None  # the table's version after this query's last write
        self.dead_app = app_id(topic, dead=True)

    def __call__(self, frame: Any, batch_id: int) -> None:
        from pyspark.sql import functions as F

        spark = frame.sparkSession
        view = f"pinpipe_raw_{self.kind}_{batch_id}"
        # bytes that are not UTF-8 are dead letters before any parsing (as on the Python path)
        # persisted: the source is read once, whatever reads the batch afterwards
        utf8 = (
            frame.withColumn("value", F.col("value").cast("string"))
            .withColumn("valid", F.expr("is_valid_utf8(value)"))
            .persist()
        )
        utf8.where("valid").selectExpr(
            "topic", "partition", "offset", f"{decoded_value_sql('value')} AS value"
        ).createOrReplaceTempView(view)
        staged = spark.sql(staged_sql(SPARK, self.kind, view)).persist()
        try:
            records = utf8.count()
            staged.createOrReplaceTempView(f"{view}_staged")
            not_utf8 = utf8.where("NOT valid").selectExpr(
                "topic",
                "partition",
                "offset",
                "make_valid_utf8(value) AS value",
                "'record is not valid UTF-8' AS reason",
            )
            dead = spark.sql(dead_letter_sql(SPARK, f"{view}_staged")).unionByName(not_utf8)
            dead = conformed(
                dead.select(F.lit(DEAD_LETTER_SOURCE).alias("source"), "*", F.current_timestamp().alias("time")),
                DEAD_LETTER_SCHEMA,
            )
            dead_count = dead.count()  # also fills the cache of ``staged``, which the rows' write reads
            if dead_count:
                # A blind append (the three queries write dead_letter at once; a MERGE would conflict
                # with the others' appends), idempotent per batch id like the rows.
                (
                    dead.write.format("delta")
                    .mode("append")
                    .option("txnAppId", self.dead_app)
                    .option("txnVersion", batch_id)
                    .save(self.dead_path)
                )
            clean = conformed(spark.sql(clean_sql(SPARK, self.kind, f"{view}_staged")), CLEAN_SCHEMAS[self.kind])
            fresh = clean.join(spark.read.format("delta").load(self.path).select("ind"), "ind", "left_anti")
            if self.version is None:
                self.version = self.tables.version(self.path)
            (
                fresh.write.format("delta")
                .mode("append")
                .option("txnAppId", self.app)
                .option("txnVersion", batch_id)
                .save(self.path)
            )
            # A replayed batch id is skipped by Delta: no new version, nothing written. (This query is
            # the table's only writer, so the version it saw last is the one before its write.)
            version, metrics = self.tables.latest_commit(self.path)
            replayed = version == self.version
            self.version = version
            written = 0 if replayed else metrics.get("numOutputRows", 0)
        finally:
            staged.unpersist()
            utf8.unpersist()
            spark.catalog.dropTempView(view)
            spark.catalog.dropTempView(f"{view}_staged")
        summary = self.summary
        summary.batches += 1
        summary.skipped += int(replayed)
        summary.records += records
        summary.written += written
        summary.dead_letters += dead_count
        summary.per_kind[self.kind] = summary.per_kind.get(self.kind, 0) + written


def lake_records(spark: Any, settings: Settings, kind: str, options: SparkStreamOptions) -> tuple[str, Any]:
    """The topic's landing files as a stream of (topic, partition, offset, value) records."""
    from pyspark.sql import functions as F

    assert settings.lake_url is not None
    topic = settings.topic(kind)
    path = spark_path(settings.lake_url.rstrip("/")) + "/" + topic_prefix(topic).rstrip("/")
    reader = spark.readStream.format("text").option("wholetext", True).option("recursiveFileLookup", True)
    if options.max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", options.max_files_per_trigger)
    files = reader.load(path).select(F.col("_metadata.file_path").alias("filename"), "value")
    # binary, as the Kafka source's values: the writer reads either the same way
    return topic, spark_records(files, topic).withColumn("value", F.col("value").cast("binary"))


def kafka_options(settings: Settings) -> dict[str, str]:
    """The Java client's options for the streams' broker: bootstrap servers from the stream log URL,
    security settings from ``PINPIPE_KAFKA__*`` (librdkafka's SASL user/password become the Java
    client's JAAS line), and ``read_committed``: what the gateway acknowledged, nothing else."""
    from pinpipe.log.kafka import bootstrap_servers

    url = settings.stream_log_url or ""
    try:
        servers = bootstrap_servers(url)
    except ConfigError as exc:
        raise ConfigError(
            f"--spark-source kafka reads the streams from Kafka: PINPIPE_STREAM_LOG_URL is {exc.message}",
            hint=exc.hint or "set PINPIPE_STREAM_LOG_URL=kafka://broker:9092 (or PINPIPE_LOG_URL, its default)",
        ) from None
    options = {"kafka.bootstrap.servers": servers, "kafka.isolation.level": "read_committed"}
    passthrough = dict(settings.kafka)
    user, password = passthrough.pop("sasl.username", None), passthrough.pop("sasl.password", None)
    for key, value in passthrough.items():
        if key.startswith(("security.", "ssl.", "sasl.")):
            options[f"kafka.{key}"] = value
    if user is not None and password is not None:
        mechanism = passthrough.get("sasl.mechanism", "PLAIN").upper()
        module = (
            "org.apache.kafka.common.security.scram.ScramLoginModule"
            if mechanism.startswith("SCRAM")
            else "org.apache.kafka.common.security.plain.PlainLoginModule"
        )
        options["kafka.sasl.jaas.config"] = f'{module} required username="{user}" password="{password}";'
    return options


def kafka_records(spark: Any, settings: Settings, kind: str, options: SparkStreamOptions) -> tuple[str, Any]:
    """``format("kafka")`` on the stream of ``kind``: (topic, partition, offset, value bytes)."""
    topic = settings.stream(kind)
    reader = spark.readStream.format("kafka").option("subscribe", topic).option("startingOffsets", "earliest")
    for key, value in kafka_options(settings).items():
        reader = reader.option(key, value)
    if options.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", options.max_offsets_per_trigger)
    frame = reader.load()
    return topic, frame.selectExpr("topic", "CAST(partition AS BIGINT) AS partition", "offset", "value")


def kinesis_records(spark: Any, settings: Settings, kind: str, options: SparkStreamOptions) -> tuple[str, Any]:
    """Databricks' ``format("kinesis")``. Sequence numbers do not fit the cleaning's int64 offset, so a
    record's offset there is its arrival time in microseconds (dedupe keeps the earliest)."""
    if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        raise ConfigError(
            "--spark-source kinesis needs Databricks' built-in Kinesis source: no open-source Structured "
            "Streaming Kinesis source for Spark 4 is on Maven Central",
            hint="run the Kinesis route through the Python stream job (pinpipe stream run), docs/STREAMING.md",
        )
    from pinpipe.log.kinesis import region_of

    url = settings.stream_log_url or ""
    try:
        region = region_of(url)
    except ConfigError:
        raise ConfigError(
            f"--spark-source kinesis needs PINPIPE_STREAM_LOG_URL=kinesis://<region>, not {url!r}"
        ) from None
    stream = settings.stream(kind)
    frame = (
        spark.readStream.format("kinesis")
        .option("streamName", stream)
        .option("region", region)
        .option("initialPosition", "trim_horizon")
        .load()
    )
    return stream, frame.selectExpr(
        f"'{stream}' AS topic",
        "CAST(0 AS BIGINT) AS partition",
        "CAST(unix_micros(approximateArrivalTimestamp) AS BIGINT) AS offset",
        "data AS value",
    )


SOURCES: dict[str, Callable[[Any, Settings, str, SparkStreamOptions], tuple[str, Any]]] = {
    "files": lake_records,
    "kafka": kafka_records,
    "kinesis": kinesis_records,
}


def run_spark_stream(
    settings: Settings, options: SparkStreamOptions | None = None, *, session: Any | None = None
) -> SparkStreamSummary:
    """Run the three queries; with ``until_idle``, until every file/record available now is applied."""
    options = options or SparkStreamOptions()
    source = SOURCES[options.source]
    if options.source == "kinesis":
        source(None, settings, TABLES[0], options)  # refused off Databricks before a session starts
    # One stream job per warehouse, whichever engine (pinpipe.stream.lock): refused before a session starts.
    with WarehouseLock(settings), spark_errors():
        needs = needs_of(settings, kafka=options.source == "kafka")
        spark, owned = (
            (session, False) if session is not None else spark_session(settings, app="pinpipe-stream", needs=needs)
        )
        spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        summary = SparkStreamSummary()
        tables = DeltaSparkTables(spark)
        checkpoint_root = options.checkpoint or str(settings.checkpoints_dir / "stream-spark")
        queries = []
        try:
            tables.ensure(spark_path(dead_letter_table_uri(settings)), DEAD_LETTER_SCHEMA)
            for kind in TABLES:
                tables.ensure(spark_path(warehouse_table(settings, "stream", kind)), CLEAN_SCHEMAS[kind])
            register_tables(spark, settings, [*(f"stream_{kind}" for kind in TABLES), "dead_letter"])
            for kind in TABLES:
                topic, records = source(spark, settings, kind, options)
                writer = records.writeStream.foreachBatch(BatchWriter(kind, topic, settings, summary, tables)).option(
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
