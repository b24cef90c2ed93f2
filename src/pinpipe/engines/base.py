"""What an engine is: clean, write the clean tables, run the insights, write them — in its own runtime.

1. ``clean``: raw lake files of each topic → clean rows per kind plus dead letters, through the
   one definition in :mod:`pinpipe.clean.sql`;
2. ``merge_clean`` / ``add_dead_letters``: those into the warehouse's Delta tables (merged on
   ``ind``, dead letters on their record key, so reruns change nothing);
3. ``insights`` / ``replace_insight``: the nine insight queries of :mod:`pinpipe.insights` over the
   clean tables, each replacing its table.

The engine writes its own tables because where the rows are decides how: DuckDB hands Arrow
streams to delta-rs in this process (:class:`DeltaRsTables`); Spark's rows live on its executors
and are written there by delta-spark, never collected to the driver. The tables are the same Delta
tables either way, so one engine reads and extends what the other wrote. What ``rows`` and
``dead_letters`` hold is the engine's own business (Arrow here, Spark DataFrames there).
"""

from __future__ import annotations

import importlib.abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from pinpipe.lake.store import LakeFile, LakeStore
from pinpipe.tables.delta import Rows


@dataclass
class Cleaned:
    """An engine's cleaning outcome; ``rows(kind)`` gives one kind's clean rows (read it once).

    ``records_read`` and ``dead_letters`` are complete once every kind is merged: an engine that reads
    a big lake a part at a time while it writes (DuckDB past its memory budget) adds to them there.

    ``writers``: how many tables may be written from threads at once (DuckDB: cursors per thread and
    deltalake encoding without the GIL overlap on two cores; Spark: a small table's write is mostly
    commit latency, and Spark runs jobs from several threads side by side).
    """

    records_read: dict[str, int]
    dead_letters: Any
    rows: Callable[[str], Any]
    writers: int = 1


class Engine(Protocol):
    """A batch engine (DuckDB, Spark): cleans, writes and queries the warehouse in its own runtime."""

    name: str

    def clean(self, files: Mapping[str, Sequence[LakeFile]], lake: LakeStore) -> Cleaned:
        """Clean the raw records of ``files`` (kind → that topic's files); ``lake`` reads the files an
        engine cannot read itself (DuckDB: gzip, bytes that are not UTF-8)."""
        ...

    def merge_clean(self, cleaned: Cleaned, kind: str, uri: str, metadata: Mapping[str, str]) -> int:
        """Merge ``kind``'s clean rows into the table at ``uri`` on ``ind``; how many rows it gave."""
        ...

    def add_dead_letters(self, cleaned: Cleaned, uri: str, started: datetime, metadata: Mapping[str, str]) -> int:
        """Add the run's dead letters (source ``batch``, time ``started``) not already there; how many."""
        ...

    def insights(self, tables: Mapping[str, str]) -> Mapping[str, Any]:
        """Every insight over the Delta tables at ``tables`` (kind → location), as the engine holds them."""
        ...

    def replace_insight(self, name: str, result: Any, uri: str, metadata: Mapping[str, str]) -> int:
        """Replace insight ``name``'s table with ``result``; its row count."""
        ...

    def close(self) -> None: ...


class _NoPandas(importlib.abc.MetaPathFinder):
    """A meta path finder that finds no pandas (see :func:`skip_pandas_probe`)."""

    def find_spec(self, name: str, *_: object) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("pandas is skipped for pyarrow's probe", name=name)


def skip_pandas_probe() -> None:
    """Answer pyarrow's probe for pandas with "absent", before pyarrow makes it.

    On its first conversion of Python objects pyarrow imports pandas, when installed, to check whether
    they are pandas objects: 0.8-3 s of a batch job that never uses pandas (measured on 2 cores, a
    quarter of the whole job at 1M events). pandas is made unimportable for that one probe only, so
    pyarrow takes it as absent: conversions of typed values (``pa.array(values, type)``) then never
    import it, while whatever does want pandas (``to_pandas``, type inference) still imports it then.
    """
    import sys

    if "pandas" in sys.modules:
        return
    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0], pa.int64())
    finally:
        sys.meta_path.remove(finder)


class _Counted:
    """A pass-through over Arrow rows that counts what the writer consumed."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.count = 0

    def reader(self) -> pa.RecordBatchReader:
        if isinstance(self.rows, pa.Table):
            self.count = self.rows.num_rows
            return pa.RecordBatchReader.from_batches(self.rows.schema, self.rows.to_batches())
        source = self.rows

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in source:
                self.count += batch.num_rows
                yield batch

        return pa.RecordBatchReader.from_batches(source.schema, batches())


def merge_counted(uri: str, rows: Rows, kind: str, metadata: Mapping[str, str]) -> int:
    """Upsert ``kind``'s clean ``rows`` on ``ind`` through delta-rs; how many rows there were."""
    from pinpipe.clean.schema import CLEAN_SCHEMAS
    from pinpipe.tables.delta import merge_on_ind

    counted = _Counted(rows)
    merge_on_ind(uri, counted.reader(), CLEAN_SCHEMAS[kind], metadata)
    return counted.count


class DeltaRsTables:
    """The writes of an engine whose rows are Arrow in this process: delta-rs does them."""

    def merge_clean(self, cleaned: Cleaned, kind: str, uri: str, metadata: Mapping[str, str]) -> int:
        return merge_counted(uri, cleaned.rows(kind), kind, metadata)

    def add_dead_letters(self, cleaned: Cleaned, uri: str, started: datetime, metadata: Mapping[str, str]) -> int:
        from pinpipe.clean.inprocess import dead_letter_table
        from pinpipe.tables.delta import add_dead_letters

        dead = dead_letter_table(cleaned.dead_letters, "batch", started)
        add_dead_letters(uri, dead, metadata)
        return int(dead.num_rows)

    def replace_insight(self, name: str, result: Any, uri: str, metadata: Mapping[str, str]) -> int:
        from pinpipe.insights.queries import INSIGHTS
        from pinpipe.tables.delta import replace_table

        replace_table(uri, result, INSIGHTS[name].schema, metadata)
        return int(result.num_rows)
