"""The shared cleaning definition applied to one micro-batch (never a second copy of the rules).

The rules live in :mod:`pinpipe.clean` (SQL generated from :mod:`pinpipe.clean.schema`, run in
process by :func:`pinpipe.clean.clean_batch`); this module only hands a micro-batch over and maps the
answers back to log records.

Why surrogate offsets: the cleaning keys records by (topic, partition, offset) as int64, and Kinesis
sequence numbers do not fit int64. So each record of a micro-batch is handed over with its index in
the batch as ``offset`` (order-preserving, so the cleaning's "lowest offset wins" still means "first
in the log wins"), and dead letters are mapped back to the real record by that index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from pinpipe.clean import RAW_RECORD_SCHEMA, clean_batch
from pinpipe.log.base import Record


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that does not fit its topic, and why: it goes to dead_letter, not to the table."""

    record: Record
    reason: str


def clean_records(kind: str, records: Sequence[Record], texts: Sequence[str]) -> tuple[pa.Table, list[DeadLetter]]:
    """Clean rows of ``records`` (one per ``ind``, first in the batch wins) and those that do not fit.

    ``texts`` are the records' row JSON, already unwrapped from any base64 (:mod:`.decode`).
    """
    raw = pa.table(
        {
            "topic": pa.array([r.topic for r in records], pa.string()),
            "partition": pa.array([r.partition for r in records], pa.int64()),
            "offset": pa.array(range(len(records)), pa.int64()),
            "value": pa.array(texts, pa.string()),
        },
        schema=RAW_RECORD_SCHEMA,
    )
    outcome = clean_batch(kind, raw, source="stream")
    dead = outcome.dead_letters
    dead_letters = [
        DeadLetter(records[int(i)], str(reason))
        for i, reason in zip(dead["offset"].to_pylist(), dead["reason"].to_pylist(), strict=True)
    ]
    return outcome.clean, dead_letters
