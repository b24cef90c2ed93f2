"""The Spark session pinpipe's jobs run in: the pinned connectors, Delta, S3A, UTC, logs in a file.

A session pinpipe starts gets the ``spark`` jar set of ``jvm/pom.xml`` as ``spark.jars`` local paths
(``make jars`` put them in the jar cache; nothing is resolved at run time, and the driver ships
them to a cluster's executors), Delta's SQL extension and catalog, and S3A configured from the AWS
environment as boto3 resolves it. An active session (Databricks, a notebook, tests) is used as it
is: the cluster owns its jars and master; only runtime settings (UTC, Delta table defaults) are set.

Spark's own log goes to ``$PINPIPE_HOME/logs/spark.log``, not the terminal: a failure reaches the
user as one line (:mod:`pinpipe.spark.errors`), the Java trace stays in that file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pinpipe.aws import aws_environment
from pinpipe.errors import MissingDependencyError
from pinpipe.jvm import jar_paths
from pinpipe.settings import Settings

JAR_SET = "spark"

# Tables any Delta reader can read and write: delta-rs 1.6 (the embedded path, `pinpipe sql`) cannot
# read deletion vectors or v2 checkpoints, nor write row tracking; Databricks turns them on by default.
DELTA_TABLE_DEFAULTS = {
    "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
    "spark.databricks.delta.properties.defaults.minReaderVersion": "1",
    "spark.databricks.delta.properties.defaults.minWriterVersion": "2",
}
DELTA_SESSION = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c{{1}}: %m%n%ex
logger.native.name = org.apache.hadoop.util.NativeCodeLoader
logger.native.level = error
"""


def spark_path(url: str) -> str:
    """A lake or warehouse URL as Spark names it: ``s3://`` goes through S3A (``s3a://``); Databricks
    reads both."""
    return "s3a://" + url[len("s3://") :] if url.startswith("s3://") else url


#: PySpark's own Python loggers, which print every captured exception as a JSON line on stderr.
PYSPARK_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")


def _log_config(settings: Settings) -> Path:
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    config = logs / "spark-log4j2.properties"
    config.write_text(LOG4J2.format(log=logs / "spark.log"))
    return config


def _quiet_pyspark_loggers(settings: Settings) -> None:
    """Send PySpark's exception loggers to the Spark log file instead of the terminal."""
    import logging

    from pyspark.logger import PySparkLogger

    log = settings.home / "logs" / "spark.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    for name in PYSPARK_LOGGERS:
        logger = PySparkLogger.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.addHandler(logging.FileHandler(log))
        logger.propagate = False


def session_conf(settings: Settings, master: str, jars: list[Path]) -> dict[str, str]:
    """Every setting a session pinpipe starts gets (spark-defaults.conf still fills in the rest)."""
    log_config = _log_config(settings)
    java_options = f"-Dlog4j2.configurationFile={log_config.as_uri()}"
    conf = {
        "spark.master": master,
        "spark.jars": ",".join(str(j) for j in jars),
        **DELTA_SESSION,
        **DELTA_TABLE_DEFAULTS,
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.defaultJavaOptions": java_options,
        "spark.executor.defaultJavaOptions": java_options,
    }
    conf.update({f"spark.hadoop.{k}": v for k, v in aws_environment().s3a_conf().items()})
    if master.startswith("local"):
        # Local mode runs the executors inside the driver JVM: Spark's default 1 GB heap holds the
        # staged records of 1M events no longer (OutOfMemoryError).
        conf.update(
            {
                "spark.ui.enabled": "false",
                "spark.sql.shuffle.partitions": "8",
                "spark.databricks.delta.snapshotPartitions": "8",
                "spark.driver.memory": settings.spark_driver_memory,
            }
        )
    return conf


def spark_session(settings: Settings, master: str | None = None, *, app: str = "pinpipe") -> tuple[Any, bool]:
    """The active session if there is one (Databricks, tests), else a new one on ``master``.

    Returns (session, created): a session pinpipe did not create is never stopped by it.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise MissingDependencyError("the Spark engine", "spark", "pyspark") from exc
    _quiet_pyspark_loggers(settings)
    active = SparkSession.getActiveSession()
    if active is None and os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        active = SparkSession.builder.getOrCreate()  # the cluster owns master and jars: never override them
    if active is not None:
        for key, value in {"spark.sql.session.timeZone": "UTC", **DELTA_TABLE_DEFAULTS}.items():
            active.conf.set(key, value)
        return active, False
    master = master or settings.spark_master
    jars = jar_paths(JAR_SET, settings.jars_dir)  # one line naming `make jars` when missing
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(app)
    for key, value in session_conf(settings, master, jars).items():
        builder = builder.config(key, value)
    return builder.getOrCreate(), True
