"""Shared fixtures: a fresh PINPIPE_HOME per test, and real servers started once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services
from tests.support import kafka as kafka_support
from tests.support.gateway import Gateway, GatewayURL


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the real servers this session started, so a CI log shows MariaDB, PostgreSQL… really ran."""
    if services.STARTED:
        terminalreporter.section("real servers started by fixtures")
        for line in services.STARTED:
            terminalreporter.write_line(line)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh PINPIPE_HOME; PINPIPE_* from the developer's shell never leak into a test (but for
    PINPIPE_JARS_DIR: where this machine's jar cache is, not a setting of the pipeline)."""
    for key in list(os.environ):
        if key.startswith("PINPIPE_") and key != "PINPIPE_JARS_DIR":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "pinpipe-home"
    monkeypatch.setenv("PINPIPE_HOME", str(path))
    return path


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.Server]:
    server = services.start_mariadb(tmp_path_factory.mktemp("mariadb"))
    yield server
    assert server.proc is not None
    services.stop(server.proc)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[services.Server]:
    base = services.postgres_base()
    server = services.start_postgres(base)
    yield server
    services.stop_postgres(base)


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka_support.KafkaCluster]:
    """Apache Kafka, one KRaft node, for the whole session; ``kafka.url`` is ``kafka://127.0.0.1:PORT``."""
    yield from kafka_support.running_cluster(tmp_path_factory.mktemp("kafka"), size=1)


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka_support.KafkaCluster]:
    """Apache Kafka, three KRaft nodes (replication 3, ``min.insync.replicas`` 2), started on first use."""
    yield from kafka_support.running_cluster(tmp_path_factory.mktemp("kafka-cluster"), size=3)


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.Server]:
    """Tansu, a second Kafka-protocol implementation (the log contract runs on it too); ``kafka://127.0.0.1:PORT``."""
    server = services.start_tansu(tmp_path_factory.mktemp("tansu"))
    yield server
    assert server.proc is not None
    services.stop(server.proc)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto server (S3, Kinesis) in a child process; yields its endpoint URL.

    Not a thread of this interpreter: deltalake holds the GIL while it waits on S3, so an in-process
    moto could never answer it (measured: every Delta call timed out).
    """
    server = services.start_moto()
    yield server.url
    assert server.proc is not None
    services.stop(server.proc)


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3/s3fs/deltalake (and any subprocess) at moto, the way users point them at AWS: no
    AWS_ALLOW_HTTP, which only object_store would want (pinpipe derives it from the http:// endpoint)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return moto_server


@pytest.fixture(scope="session", autouse=True)
def spark_defaults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """SPARK_CONF_DIR for every Spark application of the run, in process or a child's: the JVM options
    of short jobs (tests.support.spark.TEST_DEFAULTS)."""
    from tests.support.spark import write_spark_defaults

    conf_dir = write_spark_defaults(tmp_path_factory.mktemp("spark-conf"), {})
    previous = os.environ.get("SPARK_CONF_DIR")
    os.environ["SPARK_CONF_DIR"] = str(conf_dir)
    yield conf_dir
    if previous is None:
        os.environ.pop("SPARK_CONF_DIR", None)
    else:
        os.environ["SPARK_CONF_DIR"] = previous


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory, spark_defaults: Path) -> Iterator[object]:
    """One local Spark session for the whole run (a session costs 7-11 s to start), built by pinpipe
    itself: the connector jars of the jar cache, Delta, S3A from the AWS environment of the moment."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        services.unavailable("PySpark", "pip install 'pinpipe[spark]'")
    from pinpipe.jvm import MissingJarsError
    from pinpipe.settings import Settings
    from pinpipe.spark import spark_session

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings = Settings(home=tmp_path_factory.mktemp("spark-home"), spark_driver_memory="2g")
    try:
        session, _ = spark_session(settings, "local[2]", app="pinpipe-tests")
    except MissingJarsError as exc:
        services.unavailable("Spark's connector jars", str(exc))
        raise
    session.conf.set("spark.sql.shuffle.partitions", "2")
    session.conf.set("spark.databricks.delta.snapshotPartitions", "2")
    services.STARTED.append(f"PySpark {session.version} local[2] (Delta, S3A, Kafka connectors from the jar cache)")
    yield session
    session.stop()


@pytest.fixture
def gateway(home: Path, tmp_path: Path) -> Iterator[GatewayURL]:
    """A real `pinpipe api` subprocess on 127.0.0.1 with this test's PINPIPE_HOME; yields its base URL.

    The URL is a ``str`` with ``.proc`` (the Popen). Stopped with SIGTERM (graceful: requests in
    flight finish, the log is closed) on teardown; its output is in ``tmp_path/gateway.log``.
    """
    server = Gateway(home, log_path=tmp_path / "gateway.log")
    try:
        server.start()
        yield GatewayURL.of(server)
    finally:
        server.stop()
