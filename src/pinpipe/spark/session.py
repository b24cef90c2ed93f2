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
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pinpipe.aws import aws_environment
from pinpipe.errors import MissingDependencyError
from pinpipe.jvm import jar_paths
from pinpipe.settings import Settings
from pinpipe.spark.errors import FAILURE_LOGGER

JAR_SET = "spark"
#: Jars of the set by what needs them (file-name prefixes); Delta's are always loaded. A session ships
#: only what its job uses: the AWS SDK alone is 650 MB, which every executor of a cluster would fetch.
CONNECTOR_JARS: dict[str, tuple[str, ...]] = {
    "s3": ("hadoop-aws-", "bundle-", "analyticsaccelerator-s3-"),
    "kafka": ("spark-sql-kafka-", "spark-token-provider-kafka-", "kafka-clients-", "commons-pool2-"),
    "metastore": ("postgresql-",),  # a Hive metastore on PostgreSQL (PINPIPE_CATALOG)
}

# The SQL settings the shared cleaning and insights rely on, set on every session (an active one too):
# UTC timestamps, and a record's repeated JSON key read as its last value (from_json to a MAP raises on
# a repeated key under Spark's default EXCEPTION policy) — the one rule of every engine.
SQL_RUNTIME = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.mapKeyDedupPolicy": "LAST_WIN",
}
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


@contextmanager
def _stderr_into(log: Path) -> Iterator[None]:
    """File descriptor 2 points at ``log`` while the JVM starts, so the JVM keeps it as its stderr:
    its console warnings and any trace it prints land in the log, the terminal stays pinpipe's."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log, "ab") as target:
        os.dup2(target.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


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
    # where pinpipe.spark.errors keeps the whole failure a user is shown one line of
    failures = logging.getLogger(FAILURE_LOGGER)
    if not any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == log for h in failures.handlers):
        failures.addHandler(logging.FileHandler(log))
    failures.propagate = False


def connector_jars(jars: list[Path], needs: frozenset[str]) -> list[Path]:
    """The jars of the set a session with connectors ``needs`` (``s3``, ``kafka``) loads."""
    unused = tuple(prefix for need, prefixes in CONNECTOR_JARS.items() if need not in needs for prefix in prefixes)
    return [jar for jar in jars if not jar.name.startswith(unused)] if unused else list(jars)


def needs_of(settings: Settings, *, kafka: bool = False) -> frozenset[str]:
    """The connectors a job on ``settings`` needs: S3A when the lake or warehouse is on S3, the
    metastore when tables are registered by name (``PINPIPE_CATALOG``)."""
    urls = (settings.lake_url or "", settings.warehouse_url or "")
    needs = {"s3"} if any(u.startswith(("s3://", "s3a://")) for u in urls) else set()
    if kafka:
        needs.add("kafka")
    if settings.catalog:
        needs.add("metastore")
    return frozenset(needs)


def session_conf(settings: Settings, master: str, jars: list[Path], needs: frozenset[str]) -> dict[str, str]:
    """Every setting a session pinpipe starts gets (spark-defaults.conf still fills in the rest)."""
    log_config = _log_config(settings)
    # The cleaning SQL compiles to methods over the JVM's 8,000-byte JIT limit; without this flag they
    # run interpreted (measured: a 3,000-record micro-batch took 10 s instead of 1 s).
    java_options = f"-XX:-DontCompileHugeMethods -Dlog4j2.configurationFile={log_config.as_uri()}"
    if "metastore" in needs:
        # Hive's embedded Derby metastore (when no shared one is configured) lives in PINPIPE_HOME,
        # not in whatever folder the job was started from.
        java_options += f" -Dderby.system.home={settings.home / 'metastore'}"
    conf = {
        "spark.master": master,
        "spark.jars": ",".join(str(j) for j in jars),
        **DELTA_SESSION,
        **DELTA_TABLE_DEFAULTS,
        **SQL_RUNTIME,
        "spark.ui.showConsoleProgress": "false",
        # Delta rebuilds a table's state from its log in this many tasks; its default of 50 is for logs of
        # huge tables, and each task costs ~0.3 s: pinpipe's tables are checkpointed every 10 commits.
        "spark.databricks.delta.snapshotPartitions": "2",
        # Explicit lake files are listed on the driver, not by a Spark job per batch of 32 paths.
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "1024",
        "spark.driver.defaultJavaOptions": java_options,
        "spark.executor.defaultJavaOptions": java_options,
    }
    if "s3" in needs:
        conf.update({f"spark.hadoop.{k}": v for k, v in aws_environment().s3a_conf().items()})
    if "metastore" in needs:
        conf["spark.sql.catalogImplementation"] = "hive"
        conf["spark.sql.warehouse.dir"] = str(settings.home / "metastore" / "warehouse")
        # The metastore client's JDBC driver must be on the driver's own classpath, not only spark.jars.
        drivers = [str(j) for j in jars if j.name.startswith(CONNECTOR_JARS["metastore"])]
        if drivers:
            conf["spark.driver.extraClassPath"] = os.pathsep.join(drivers)
    if master.startswith("local"):
        # Local mode runs the executors inside the driver JVM: Spark's default 1 GB heap holds the
        # staged records of 1M events no longer (OutOfMemoryError).
        conf.update(
            {
                "spark.ui.enabled": "false",
                "spark.sql.shuffle.partitions": "8",
                "spark.driver.memory": settings.spark_driver_memory,
            }
        )
    return conf


def spark_session(
    settings: Settings,
    master: str | None = None,
    *,
    app: str = "pinpipe",
    needs: frozenset[str] | None = None,
) -> tuple[Any, bool]:
    """The active session if there is one (Databricks, tests), else a new one on ``master`` with the
    connectors ``needs`` names (default: every one).

    Returns (session, created): a session pinpipe did not create is never stopped by it.
    """
    # pyspark warns on import that pandas 3 is newer than it knows; pinpipe's Spark jobs use no pandas.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise MissingDependencyError("the Spark engine", "spark", "pyspark") from exc
    _quiet_pyspark_loggers(settings)
    active = SparkSession.getActiveSession()
    if active is None and os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        active = SparkSession.builder.getOrCreate()  # the cluster owns master and jars: never override them
    if active is not None:
        for key, value in {**SQL_RUNTIME, **DELTA_TABLE_DEFAULTS}.items():
            active.conf.set(key, value)
        return active, False
    master = master or settings.spark_master
    needs = frozenset(CONNECTOR_JARS) if needs is None else needs
    jars = connector_jars(jar_paths(JAR_SET, settings.jars_dir), needs)  # one line naming `make jars` if missing
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(app)
    for key, value in session_conf(settings, master, jars, needs).items():
        builder = builder.config(key, value)
    with _stderr_into(settings.home / "logs" / "spark.log"):
        session = builder.getOrCreate()
    return session, True
