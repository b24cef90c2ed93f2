"""Spark's failures as one line a user can act on; the Java stack trace stays in Spark's log.

A py4j error carries the whole JVM trace in its message. The ones a user causes by configuration —
a connector missing from the cluster, a path S3A cannot reach — are named with the Maven
coordinates that fix them; anything else is its first line, with where the log is.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from pinpipe.errors import PinpipeError

# The logger pinpipe.spark.session sends to the Spark log file: the failures behind one-line errors.
FAILURE_LOGGER = "pinpipe.spark.failures"

# The connectors pinpipe's Spark jobs need, as a cluster would add them (``--packages``): the same
# versions jvm/pom.xml pins for `make jars`.
DELTA = "io.delta:delta-spark_4.2_2.13:4.4.0"
S3A = "org.apache.hadoop:hadoop-aws:3.5.0"
KAFKA = "org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0"

# (what the JVM says, what is missing, its coordinates)
_MISSING: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"S3AFileSystem|org\.apache\.hadoop\.fs\.s3a|No FileSystem for scheme \"?s3a?\b"), "S3 (S3A)", S3A),
    (re.compile(r"data source: kafka|DATA_SOURCE_NOT_FOUND.*kafka|KafkaSourceProvider", re.S), "Kafka", KAFKA),
    (
        re.compile(r"io\.delta\.|data source: delta|DATA_SOURCE_NOT_FOUND.*delta|DeltaSparkSessionExtension", re.S),
        "Delta Lake",
        DELTA,
    ),
)


class MissingConnectorError(PinpipeError):
    """The Spark session lacks a connector jar: one line with its Maven coordinates."""

    def __init__(self, what: str, coordinates: str) -> None:
        super().__init__(
            f"this Spark session has no {what} connector",
            hint=f"add {coordinates} to the cluster (spark.jars.packages / --packages), or run `make jars` "
            "for a session pinpipe starts; docs/SPARK.md lists every jar",
        )
        self.coordinates = coordinates


class SparkJobError(PinpipeError):
    """A Spark failure no configuration explains: its first line, and where the whole story is."""


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("at ", "JVM stacktrace", "Traceback")):
            return line[:400]
    return text.strip()[:400]


def explain(exc: BaseException) -> PinpipeError:
    """The error a user sees for a Spark failure (the original stays chained for ``--debug``)."""
    text = str(exc)
    for pattern, what, coordinates in _MISSING:
        if pattern.search(text):
            return MissingConnectorError(what, coordinates)
    return SparkJobError(f"Spark failed: {_first_line(text)}", hint="--debug shows the Java trace")


def _is_spark_failure(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.startswith(("pyspark", "py4j"))


@contextmanager
def spark_errors() -> Iterator[None]:
    """Turn PySpark/py4j failures inside the block into one-line pinpipe errors."""
    try:
        yield
    except PinpipeError:
        raise
    except Exception as exc:
        if _is_spark_failure(exc):
            logging.getLogger(FAILURE_LOGGER).error("Spark failed", exc_info=exc)
            raise explain(exc) from exc
        raise
