"""Object names in the raw lake: the Kafka Connect S3 sink's layout, so existing tools read it.

Names come from data only (topic, partition, start offset, record day), never from the clock, so a
replay after a crash rewrites the same key with the same bytes.

- ``daily``:   ``topics/<topic>/year=YYYY/month=MM/day=dd/<topic>+<p>+<start:010d>.json[.gz]``
- ``default``: ``topics/<topic>/partition=<p>/<topic>+<p>+<start:010d>.json[.gz]``
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from pinpipe.errors import ValidationError
from pinpipe.log.names import validate_name

TOPICS_DIR = "topics"


class Partitioner(StrEnum):
    DAILY = "daily"
    DEFAULT = "default"


class Compression(StrEnum):
    NONE = "none"
    GZIP = "gzip"

    @property
    def suffix(self) -> str:
        return ".json.gz" if self is Compression.GZIP else ".json"


@dataclass(frozen=True, slots=True)
class LakeObject:
    """What a lake key says about its content."""

    topic: str
    partition: int
    start_offset: int
    day: date | None
    compressed: bool


def record_day(timestamp_ms: int) -> date:
    """The UTC day of a record's log timestamp (TimeBasedPartitioner with timestamp.extractor=Record)."""
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).date()


def topic_prefix(topic: str) -> str:
    return f"{TOPICS_DIR}/{validate_name(topic)}/"


def day_prefix(topic: str, day: date) -> str:
    return f"{topic_prefix(topic)}year={day.year:04d}/month={day.month:02d}/day={day.day:02d}/"


def file_name(topic: str, partition: int, start_offset: int, compression: Compression = Compression.NONE) -> str:
    return f"{topic}+{partition}+{start_offset:010d}{compression.suffix}"


def object_key(
    topic: str,
    partition: int,
    start_offset: int,
    *,
    partitioner: Partitioner,
    timestamp_ms: int | None = None,
    compression: Compression = Compression.NONE,
) -> str:
    """The key (relative to the lake root) of the file holding ``[start_offset, …)`` of one partition.

    ``timestamp_ms`` is the first record's log timestamp; the daily partitioner needs it.
    """
    if partition < 0 or start_offset < 0:
        raise ValidationError(f"partition and offset must be >= 0, got {partition}, {start_offset}")
    name = file_name(topic, partition, start_offset, compression)
    if partitioner is Partitioner.DAILY:
        if timestamp_ms is None:
            raise ValidationError("the daily partitioner needs the record timestamp")
        return day_prefix(topic, record_day(timestamp_ms)) + name
    return f"{topic_prefix(topic)}partition={partition}/{name}"


# The sink's file name, ``<topic>+<partition>+<start offset:010d>.json[.gz]``, once for every reader:
# ``FILE_NAME`` for Python, and for the engines' SQL (``regexp_extract(name, …, 1)`` in Spark and DuckDB)
# the partition and the start offset as group 1 of a pattern that ends the name. Those two are written
# without backslashes or quotes, so they pass :func:`pinpipe.clean.sql.literal` and mean the same to
# Python's ``re``, Java's regex and RE2.
FILE_NAME = re.compile(r"(?P<topic>[A-Za-z0-9._-]+)\+(?P<partition>\d+)\+(?P<start>\d{10,})\.json(?P<gz>\.gz)?$")
PARTITION_IN_NAME = "[+]([0-9]+)[+][0-9]+[.]json([.]gz)?$"
START_IN_NAME = "[+]([0-9]+)[.]json([.]gz)?$"

_KEY = re.compile(
    r"(?:^|/)topics/(?P<folder>[A-Za-z0-9._-]+)/"
    r"(?:year=(?P<y>\d{4})/month=(?P<m>\d{2})/day=(?P<d>\d{2})|partition=(?P<p>\d+))/" + FILE_NAME.pattern
)


def parse_key(key: str) -> LakeObject | None:
    """Read a lake key back (either layout); ``None`` for anything that is not a sink file (temp files)."""
    match = _KEY.search(key)
    if match is None or match["topic"] != match["folder"]:
        return None
    if match["p"] is not None and int(match["p"]) != int(match["partition"]):
        return None
    day = date(int(match["y"]), int(match["m"]), int(match["d"])) if match["y"] else None
    return LakeObject(
        topic=match["topic"],
        partition=int(match["partition"]),
        start_offset=int(match["start"]),
        day=day,
        compressed=match["gz"] is not None,
    )
