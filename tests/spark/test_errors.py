"""A Spark job a user misconfigured says so in one line: the missing jars, a connector a session lacks,
a source this platform has none of. No Java stack trace, no Spark log line reaches the terminal."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pinpipe.jvm import STAMP, jar_paths
from pinpipe.settings import Settings
from pinpipe.spark.errors import DELTA, KAFKA, S3A, MissingConnectorError, SparkJobError, explain
from pinpipe.spark.session import CONNECTOR_JARS, JAR_SET
from tests.integration.stream_flow import PINPIPE


def run(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PINPIPE, *args], env=env, capture_output=True, text=True, timeout=timeout)


def no_java_on(stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert lines, "nothing said"
    assert not any(line.lstrip().startswith(("at ", "Caused by", "Traceback")) for line in lines), stderr
    assert not any(" WARN " in line or " ERROR " in line or "WARNING:" in line for line in lines), stderr


def test_a_missing_jar_cache_names_make_jars(home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PINPIPE_JARS_DIR": str(tmp_path / "no-jars")}
    done = run(env, "batch", "run", "--all", "--engine", "spark")
    assert done.returncode != 0
    no_java_on(done.stderr)
    assert "make jars" in done.stderr.strip().splitlines()[-1]


def test_kinesis_on_spark_off_databricks_is_refused_in_one_line(home: Path) -> None:
    env = {**os.environ, "PINPIPE_STREAM_LOG_URL": "kinesis://us-east-1"}
    done = run(env, "stream", "run", "--engine", "spark", "--spark-source", "kinesis", "--until-idle")
    assert done.returncode != 0
    no_java_on(done.stderr)
    last = done.stderr.strip().splitlines()[-1]
    assert "no open-source Structured Streaming Kinesis source" in last and "pinpipe stream run" in last


@pytest.mark.spark
@pytest.mark.slow
def test_a_session_without_the_kafka_connector_names_its_coordinates(home: Path, tmp_path: Path) -> None:
    """A jar cache whose Spark set lacks spark-sql-kafka, as a cluster without it: one line naming it."""
    jars = [p for p in jar_paths(JAR_SET, Settings().jars_dir) if not p.name.startswith(CONNECTOR_JARS["kafka"])]
    folder = tmp_path / "jars" / JAR_SET
    folder.mkdir(parents=True)
    for jar in jars:
        (folder / jar.name).symlink_to(jar)
    (folder / STAMP).write_text("\n".join(["partial", *(j.name for j in jars)]) + "\n")
    env = {**os.environ, "PINPIPE_JARS_DIR": str(tmp_path / "jars"), "PINPIPE_STREAM_LOG_URL": "kafka://127.0.0.1:9"}
    done = run(env, "stream", "run", "--engine", "spark", "--spark-source", "kafka", "--until-idle")
    assert done.returncode != 0
    no_java_on(done.stderr)
    last = done.stderr.strip().splitlines()[-1]
    assert "no Kafka connector" in last and KAFKA in last
    log = (home / "logs" / "spark.log").read_text()
    assert "Spark failed" in log and "kafka" in log  # the whole failure is kept where the one line points


@pytest.mark.parametrize(
    ("jvm_says", "coordinates"),
    [
        ("java.lang.ClassNotFoundException: Class org.apache.hadoop.fs.s3a.S3AFileSystem not found", S3A),
        ('org.apache.hadoop.fs.UnsupportedFileSystemException: No FileSystem for scheme "s3a"', S3A),
        ("[DATA_SOURCE_NOT_FOUND] Failed to find the data source: kafka. Make sure the provider name", KAFKA),
        ("java.lang.ClassNotFoundException: io.delta.sql.DeltaSparkSessionExtension", DELTA),
    ],
)
def test_what_the_jvm_says_of_a_missing_connector_becomes_its_coordinates(jvm_says: str, coordinates: str) -> None:
    error = explain(RuntimeError(jvm_says + "\n\tat org.apache.spark.Foo(Foo.scala:1)"))
    assert isinstance(error, MissingConnectorError) and error.coordinates == coordinates
    assert "\n" not in str(error)


def test_any_other_spark_failure_is_its_first_line() -> None:
    error = explain(RuntimeError("JVM stacktrace:\n[DIVIDE_BY_ZERO] Division by zero.\n\tat org.apache.X(X.java:1)"))
    assert isinstance(error, SparkJobError)
    assert str(error).startswith("Spark failed: [DIVIDE_BY_ZERO] Division by zero.") and "at org" not in str(error)
