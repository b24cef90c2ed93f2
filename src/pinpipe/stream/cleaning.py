"""The shared cleaning definition applied to one micro-batch (never a second copy of the rules).

The rules live in :mod:`pinpipe.clean` as SQL generated from :mod:`pinpipe.clean.schema`; this module
only hands a micro-batch to them and maps the answers back to log records.

Why surrogate offsets: the cleaning keys records by (topic, partition, offset) as int64, and Kinesis
sequence numbers do not fit int64. So each record of a micro-batch is handed over with its index in
the batch as ``offset`` (order-preserving, so the cleaning's "lowest offset wins" still means "first
in the log wins"), and dead letters are mapped back to the real record by that index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from pinpipe.clean.schema import CLEAN_SCHEMAS, RAW_RECORD_SCHEMA, conform
from pinpipe.log.base import Record


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that does not fit its topic, and why."""

    record: Record
    reason: str


class MicroBatchCleaner:
    """Runs the shared cleaning on micro-batches through one long-lived in-process DuckDB."""

    def __init__(self) -> None:
        import duckdb

        from pinpipe.clean.sql import DUCKDB

        self._dialect = DUCKDB
        self._con = duckdb.connect(
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False, "threads": 1}
        )
        self._con.execute("SET TimeZone = 'UTC'")

    def clean(self, kind: str, records: Sequence[Record], texts: Sequence[str]) -> tuple[pa.Table, list[Rejected]]:
        """Clean rows (one per ``ind``, first in the batch wins) and the records that do not fit."""
        from pinpipe.clean.sql import clean_sql, dead_letter_sql, staged_sql

        raw = pa.table(
            {
                "topic": pa.array([r.topic for r in records], pa.string()),
                "partition": pa.array([r.partition for r in records], pa.int64()),
                "offset": pa.array(range(len(records)), pa.int64()),
                "value": pa.array(texts, pa.string()),
            },
            schema=RAW_RECORD_SCHEMA,
        )
        con = self._con
        con.register("raw_batch", raw)
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS {staged_sql(self._dialect, kind, 'raw_batch')}")
            clean = con.sql(clean_sql(self._dialect, kind, "staged")).to_arrow_table()
            dead = con.sql(dead_letter_sql(self._dialect, "staged")).to_arrow_table()
        finally:
            con.unregister("raw_batch")
        rejected = [
            Rejected(records[int(i)], str(reason))
            for i, reason in zip(dead["offset"].to_pylist(), dead["reason"].to_pylist(), strict=True)
        ]
        return conform(clean, CLEAN_SCHEMAS[kind]), rejected

    def close(self) -> None:
        self._con.close()
