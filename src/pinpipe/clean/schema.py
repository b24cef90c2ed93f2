"""The row shapes of each topic, defined once: what a raw record must look like, what a clean row is.

Every engine (DuckDB, Spark, the streaming job's micro-batches) reads raw records against
:data:`RAW_FIELDS` and produces rows of :data:`CLEAN_SCHEMAS`, so an engine can never drift from
another by inferring a type of its own (DuckDB's ``read_json`` would type ISO strings as TIMESTAMP,
Spark would keep them as strings).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from pinpipe.errors import ValidationError


class RawType(StrEnum):
    """How a raw JSON value is read; a non-null value that cannot be read so sends the record to dead_letter."""

    TEXT = "text"
    INTEGER = "integer"
    DOUBLE = "double"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True, slots=True)
class RawField:
    name: str
    type: RawType


_T, _I, _D, _TS = RawType.TEXT, RawType.INTEGER, RawType.DOUBLE, RawType.TIMESTAMP

# The source tables' columns in ``SELECT *`` order (DESIGN.md, "The source database").
RAW_FIELDS: dict[str, tuple[RawField, ...]] = {
    "pin": tuple(
        RawField(n, t)
        for n, t in (
            ("index", _I),
            ("unique_id", _T),
            ("title", _T),
            ("description", _T),
            ("poster_name", _T),
            ("follower_count", _T),
            ("tag_list", _T),
            ("is_image_or_video", _T),
            ("image_src", _T),
            ("downloaded", _I),
            ("save_location", _T),
            ("category", _T),
        )
    ),
    "geo": tuple(
        RawField(n, t)
        for n, t in (("ind", _I), ("timestamp", _TS), ("latitude", _D), ("longitude", _D), ("country", _T))
    ),
    "user": tuple(
        RawField(n, t)
        for n, t in (("ind", _I), ("first_name", _T), ("last_name", _T), ("age", _I), ("date_joined", _TS))
    ),
}

# The key that names the event: the pin table calls it ``index``, the others ``ind``.
ID_FIELD: dict[str, str] = {"pin": "index", "geo": "ind", "user": "ind"}

# Placeholder strings the source writes instead of a value (DESIGN.md); they and '' become NULL.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "title": ("No Title Data Available",),
    "description": ("No description available Story format", "No description available", "Untitled"),
    "poster_name": ("User Info Error",),
    "follower_count": ("User Info Error",),
    "tag_list": ("N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",),
    "image_src": ("Image src error.",),
}

TIMESTAMP = pa.timestamp("us", tz="UTC")

CLEAN_SCHEMAS: dict[str, pa.Schema] = {
    "pin": pa.schema(
        [
            pa.field("ind", pa.int64(), nullable=False),
            pa.field("unique_id", pa.string()),
            pa.field("title", pa.string()),
            pa.field("description", pa.string()),
            pa.field("follower_count", pa.int64()),
            pa.field("poster_name", pa.string()),
            pa.field("tag_list", pa.string()),
            pa.field("is_image_or_video", pa.string()),
            pa.field("image_src", pa.string()),
            pa.field("save_location", pa.string()),
            pa.field("category", pa.string()),
        ]
    ),
    "geo": pa.schema(
        [
            pa.field("ind", pa.int64(), nullable=False),
            pa.field("country", pa.string()),
            pa.field("coordinates", pa.list_(pa.float64())),
            pa.field("timestamp", TIMESTAMP),
        ]
    ),
    "user": pa.schema(
        [
            pa.field("ind", pa.int64(), nullable=False),
            pa.field("user_name", pa.string()),
            pa.field("age", pa.int64()),
            pa.field("date_joined", TIMESTAMP),
        ]
    ),
}

# What the engines hand over before cleaning: one raw record of the lake or the log.
RAW_RECORD_SCHEMA = pa.schema(
    [
        pa.field("topic", pa.string()),
        pa.field("partition", pa.int64()),
        pa.field("offset", pa.int64()),
        pa.field("value", pa.string()),
    ]
)

# The dead letter reason of a record whose bytes are not UTF-8 (no JSON parser reads it), on every batch engine.
NOT_UTF8_REASON = "record is not valid UTF-8"

# warehouse/dead_letter: shared by the batch and the stream job; (source, topic, partition, offset) is its key.
DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("topic", pa.string()),
        pa.field("partition", pa.int64()),
        pa.field("offset", pa.int64()),
        pa.field("position", pa.string()),
        pa.field("value", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("time", TIMESTAMP),
    ]
)
# ``offset`` is NULL where the log has no dense int64 offsets (a Kinesis sequence number runs to 2^128);
# ``position`` is never NULL: the offset as text, or the sequence number in full. So it is the key.
DEAD_LETTER_KEY: tuple[str, ...] = ("source", "topic", "partition", "position")
#: Added after dead_letter tables were first written: readers and writers add it to older tables.
DEAD_LETTER_ADDED = ("position",)
#: An older table's rows get their position from their offset (every one of them had a dense offset).
POSITION_OF_OFFSET = "CAST(offset AS STRING)"


def check_kind(kind: str) -> str:
    """A topic kind is one of ``pin``, ``geo``, ``user``; anything else is a caller's mistake worth naming."""
    if kind not in RAW_FIELDS:
        raise ValidationError(f"unknown table kind {kind!r}", hint="use one of: " + ", ".join(RAW_FIELDS))
    return kind


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Give an engine's output exactly ``schema``: column order, names and types (e.g. naive UTC → tz UTC)."""
    columns = []
    for field in schema:
        if field.name == "position" and "position" not in table.column_names and "offset" in table.column_names:
            # dead letters of a log with dense offsets: the position is the offset, as text
            columns.append(table.column("offset").cast(pa.string()))
            continue
        column = table.column(field.name)
        if field.type == TIMESTAMP and pa.types.is_timestamp(column.type) and column.type.tz is None:
            column = column.cast(pa.timestamp("us")).cast(TIMESTAMP)
        columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)
