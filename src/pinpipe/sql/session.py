"""The warehouse as a DuckDB database: each existing Delta table a view under its name.

A view is the table's Arrow dataset as deltalake opens it (``to_pyarrow_dataset``), so DuckDB scans
only the files, columns and row groups a query needs, on a local disk or S3 alike (deltalake reads
the objects; DuckDB needs no extension). Views follow the tables: before every statement (but the
first, which runs on tables opened for it) each table moves to its current version, and a table
written since the session began is added, so a long prompt never answers from a stale snapshot.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pyarrow as pa

from pinpipe.clean.inprocess import duckdb_connect
from pinpipe.settings import Settings, mask_url
from pinpipe.sql.errors import EmptyWarehouseError, query_error
from pinpipe.tables.delta import open_table
from pinpipe.tables.names import BATCH_WRITER, STREAM_WRITER, named_tables

BATCH_ROWS = 10_000
# How a failing query surfaces: DuckDB's own errors, or Arrow's (OSError included) while rows stream.
_FAILURES: tuple[type[BaseException], ...] = (pa.ArrowException, OSError)


@dataclass(frozen=True, slots=True)
class Result:
    """A statement's rows, streamed: the schema is known before the first batch is read."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]

    @classmethod
    def of(cls, table: pa.Table) -> Result:
        return cls(table.schema, iter(table.to_batches()))


class WarehouseSession:
    """One DuckDB connection over the warehouse's tables; use it as a context manager."""

    def __init__(self, settings: Settings) -> None:
        import duckdb

        self._duckdb_error: type[BaseException] = duckdb.Error
        self.settings = settings
        self.known = named_tables(settings)
        self.con: Any = duckdb_connect()
        self._tables: dict[str, Any] = {}  # name -> the open DeltaTable
        self._versions: dict[str, int] = {}  # name -> the version its view shows
        try:
            self.refresh()
        except BaseException:
            self.close()
            raise
        if not self._tables:
            self.close()
            raise EmptyWarehouseError(
                f"no tables in the warehouse at {mask_url(settings.warehouse_url or '')}",
                hint=f"`{BATCH_WRITER}` and `{STREAM_WRITER}` write them; PINPIPE_WAREHOUSE_URL says where",
            )

    def __enter__(self) -> WarehouseSession:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    @property
    def names(self) -> list[str]:
        """The names that have a table, in the warehouse's order."""
        return [name for name in self.known if name in self._tables]

    def refresh(self) -> None:
        """Move every view to its table's current version; add the tables written meanwhile."""
        for name, named in self.known.items():
            table = self._tables.get(name)
            if table is None:
                table = open_table(named.location)
                if table is None:
                    continue
                self._tables[name] = table
            else:
                table.update_incremental()
            version = table.version()
            if self._versions.get(name) != version:
                self.con.register(name, table.to_pyarrow_dataset())
                self._versions[name] = version
        self._fresh = True

    def listing(self) -> pa.Table:
        """The tables there are: name, the Delta version a query sees, location."""
        self._refresh_if_stale()
        names = self.names
        return pa.table(
            {
                "name": names,
                "version": pa.array([self._versions[n] for n in names], pa.int64()),
                "location": [mask_url(self.known[n].location) for n in names],
            }
        )

    def run(self, sql: str) -> Result | None:
        """Run ``sql``; of several statements each runs and the last one's rows are the result.

        ``None`` when there is nothing to run (blank, only comments). Errors, whether DuckDB raises
        them at once or while the rows stream, are a :class:`QueryError` of one line.
        """
        self._refresh_if_stale()
        try:
            relation = self.con.sql(sql)
            if relation is None:
                return None
            reader = relation.to_arrow_reader(BATCH_ROWS)
            # The first batch now: most failures surface there, before anything is printed.
            first = next(iter(reader), None)
        except (self._duckdb_error, *_FAILURES) as exc:
            raise query_error(exc, self.known, self.names) from exc
        rest = self._batches(reader)
        return Result(reader.schema, rest if first is None else itertools.chain([first], rest))

    def _refresh_if_stale(self) -> None:
        if not self._fresh:
            self.refresh()
        self._fresh = False

    def _batches(self, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (self._duckdb_error, *_FAILURES) as exc:
                raise query_error(exc, self.known, self.names) from exc
            yield batch
