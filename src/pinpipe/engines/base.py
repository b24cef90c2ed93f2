"""What an engine is: two steps, the same for DuckDB and Spark (and any later engine).

1. ``clean``: raw lake files of each topic → clean rows per kind plus dead letters, through the
   one definition in :mod:`pinpipe.clean.sql`;
2. ``insights``: the warehouse's clean tables → the nine insight tables of :mod:`pinpipe.insights`.

Writing Delta is not an engine's business: the batch job writes whatever an engine hands back with
:mod:`pinpipe.tables`, so both engines produce byte-for-byte the same kind of tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from pinpipe.engines.lake import LakeFile

Rows = pa.Table | pa.RecordBatchReader

# Column names of what ``Cleaned.dead_letters`` holds (dead_letter rows before source and time).
DEAD_LETTER_RECORD = ("topic", "partition", "offset", "value", "reason")


@dataclass
class Cleaned:
    """An engine's cleaning outcome; ``rows(kind)`` streams one kind's clean rows (read it once).

    ``concurrent``: ``rows`` may be called, and its streams read, from several threads at once, so
    the job writes the tables side by side (deltalake encodes without the GIL).
    """

    records_read: dict[str, int]
    dead_letters: pa.Table
    rows: Callable[[str], Rows]
    concurrent: bool = False


class Engine(Protocol):
    """A batch engine (DuckDB, Spark): clean raw files, run insight SQL, release resources."""

    name: str

    def clean(self, files: Mapping[str, Sequence[LakeFile]], lake: object) -> Cleaned:
        """Clean the raw records of ``files`` (kind → that topic's files); ``lake`` reads odd files."""
        ...

    def insights(self, tables: Mapping[str, str]) -> dict[str, pa.Table]:
        """Run every insight over the Delta tables at ``tables`` (kind → location)."""
        ...

    def close(self) -> None: ...
