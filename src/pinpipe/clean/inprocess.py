"""Clean one micro-batch of raw records in-process: the streaming job's entry to the shared rules.

It runs the very SQL the batch engines run (:mod:`pinpipe.clean.sql`, DuckDB dialect) over an Arrow
table, so a record is cleaned — or dead-lettered — the same way whether it arrives through the lake
or straight from the log.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pinpipe.clean.schema import CLEAN_SCHEMAS, DEAD_LETTER_SCHEMA, RAW_RECORD_SCHEMA, check_kind, conform
from pinpipe.clean.sql import DUCKDB, clean_sql, dead_letter_sql, staged_sql

_local = threading.local()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CleanBatch:
    """The outcome of cleaning one batch: rows for the table, records for dead_letter."""

    clean: pa.Table
    dead_letters: pa.Table


def duckdb_connect(**config: Any) -> Any:
    """A DuckDB connection that never tries to download an extension (nothing can be fetched here)."""
    import duckdb

    settings = {"autoinstall_known_extensions": False, "autoload_known_extensions": False, **config}
    con = duckdb.connect(config=settings)
    con.execute("SET TimeZone = 'UTC'")
    return con


def _connection() -> Any:
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb_connect(threads=1)
    return con


def raw_records(rows: pa.Table | Iterable[Mapping[str, Any]], topic: str | None = None) -> pa.Table:
    """Raw records as an Arrow table of (topic, partition, offset, value).

    ``rows`` is either such a table or dicts with ``partition``, ``offset`` and ``value`` (the record's
    JSON as str or bytes) and optionally ``topic``.
    """
    if isinstance(rows, pa.Table):
        table = rows
        if "topic" not in table.column_names:
            table = table.append_column("topic", pa.repeat(pa.scalar(topic, pa.string()), table.num_rows))
        if pa.types.is_binary(table.schema.field("value").type) or pa.types.is_large_binary(
            table.schema.field("value").type
        ):
            table = table.set_column(
                table.column_names.index("value"), "value", table.column("value").cast(pa.string())
            )
        return table.select(RAW_RECORD_SCHEMA.names).cast(RAW_RECORD_SCHEMA)
    columns: dict[str, list[Any]] = {name: [] for name in RAW_RECORD_SCHEMA.names}
    for row in rows:
        value = row["value"]
        columns["topic"].append(row.get("topic", topic))
        columns["partition"].append(row["partition"])
        columns["offset"].append(row["offset"])
        columns["value"].append(value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else value)
    return pa.table(columns, schema=RAW_RECORD_SCHEMA)


def dead_letter_table(records: pa.Table, source: str, time: datetime | None = None) -> pa.Table:
    """(topic, partition, offset, value, reason) rows as dead_letter rows from ``source`` at ``time``."""
    when = time or datetime.now(tz=UTC)
    n = records.num_rows
    # as integer microseconds: pyarrow imports pandas (seconds) to convert an aware datetime itself
    micros = round((when - EPOCH).total_seconds() * 1e6) if when.tzinfo else round(when.timestamp() * 1e6)
    stamps = pa.repeat(pa.scalar(micros, pa.int64()), n).cast(DEAD_LETTER_SCHEMA.field("time").type)
    table = records.append_column("source", pa.repeat(pa.scalar(source, pa.string()), n))
    table = table.append_column("time", stamps)
    return conform(table, DEAD_LETTER_SCHEMA)


def clean_batch(
    kind: str,
    rows: pa.Table | Iterable[Mapping[str, Any]],
    *,
    topic: str | None = None,
    source: str = "stream",
) -> CleanBatch:
    """Clean raw records of one topic kind: deduplicated clean rows plus dead letters (with reasons)."""
    check_kind(kind)
    raw = raw_records(rows, topic=topic)
    con = _connection()
    con.register("raw_batch", raw)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE staged_batch AS {staged_sql(DUCKDB, kind, 'raw_batch')}")
        clean = con.sql(clean_sql(DUCKDB, kind, "staged_batch")).to_arrow_table()
        dead = con.sql(dead_letter_sql(DUCKDB, "staged_batch")).to_arrow_table()
    finally:
        con.unregister("raw_batch")
        con.execute("DROP TABLE IF EXISTS staged_batch")
    return CleanBatch(clean=conform(clean, CLEAN_SCHEMAS[kind]), dead_letters=dead_letter_table(dead, source))
