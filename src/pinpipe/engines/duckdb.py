"""The embedded batch engine: DuckDB, in-process, spilling to a temp folder so memory stays bounded.

Why it is shaped so (each measured on 1M events, 3.9M records, in bench/batch.py; docs/PERFORMANCE.md):

- **Reading.** Raw files are read natively (``read_text``) and split into one record per line with its
  line number, which gives the record's offset (:func:`pinpipe.lake.records.duckdb_records_sql`).
  DuckDB runs one ``read_text`` scan on one thread, and everything downstream of it (the JSON parse,
  the cleaning) in that same pipeline: the files are therefore read as one ``read_text`` per thread,
  joined by ``UNION ALL``, which DuckDB runs side by side. gzip files, which ``read_text`` cannot
  decompress, and files holding bytes that are not UTF-8, which it refuses whole, are read through the
  lake's store and split in Python (:func:`pinpipe.lake.records.text_records`, the same rule): such a
  file's good lines are cleaned like any other, each bad line becomes a dead letter.
- **Staging.** The records, parsed once (see :class:`pinpipe.clean.sql.Dialect`), live in a table of an
  in-memory database that spills to a temporary folder past ``memory_limit``. A table in an attached
  database file took about 3× as long to build (DuckDB compresses and checkpoints what it writes
  there); deduplicating on the fly (``DISTINCT ON``) instead of staging took 3× as long on two threads.
  A topic with more JSON than half of ``memory_limit`` is staged and written a part at a time
  (:func:`lake_parts`, in the lake's order, each part's rows of an ``ind`` an earlier part gave left
  out): a lake that big spilled its staged table instead, and its time grew faster than its size.
- **Writing.** Rows new to a table (all of them on a first run; those above the table's largest ``ind``
  on a later day) are written by DuckDB's own Parquet writer, one file per thread, straight into the
  table's folder and committed as one Delta transaction with the files' statistics
  (:func:`pinpipe.tables.delta.add_files`), plainly encoded: DuckDB's dictionary attempts on the wide,
  mostly distinct text columns cost about a sixth of the write (files 5 % larger). Through Arrow and
  delta-rs the same rows cost a conversion plus an encoding on one thread per table. Rows that may
  already be in the table are merged by delta-rs, as any engine's (``merge_on_ind``).
- **Insights** read the Delta tables' Parquet files with DuckDB's reader (just the columns they use,
  in parallel) and run the nine queries there.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

from pinpipe.clean.inprocess import duckdb_connect
from pinpipe.clean.schema import CLEAN_SCHEMAS, ID_FIELD, NOT_UTF8_REASON, RAW_RECORD_SCHEMA
from pinpipe.clean.sql import DUCKDB, clean_sql, dead_letter_sql, literal, staged_sql
from pinpipe.engines.base import Cleaned, DeltaRsTables, merge_counted, skip_pandas_probe
from pinpipe.errors import ConfigError
from pinpipe.insights.queries import INSIGHTS, VIEW_COLUMNS, VIEWS
from pinpipe.lake.records import duckdb_records_sql, text_records
from pinpipe.lake.store import LakeFile, LakeStore, read_file
from pinpipe.tables.delta import (
    FileStats,
    add_files,
    merge_rows,
    open_table,
    parquet_files,
    table_location,
    upsert_bound,
)

DEFAULT_MEMORY_LIMIT = "1500MB"
BATCH_ROWS = 100_000
# What DuckDB says when read_text meets bytes that are not UTF-8 (the file is then read by Python).
_NOT_UTF8 = "valid UTF-8"
# One Parquet file per thread and COPY, rolled over past this size (Spark splits big files anyway).
FILE_SIZE = "512MB"


class DuckDBEngine(DeltaRsTables):
    """Batch engine on DuckDB; ``memory_limit``/``threads`` bound what it takes from the machine."""

    name = "duckdb"

    def __init__(
        self,
        *,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        threads: int | None = None,
        temp_dir: str | Path | None = None,
        part_bytes: int | None = None,
    ) -> None:
        import os

        skip_pandas_probe()
        self._tmp = Path(tempfile.mkdtemp(prefix="pinpipe-duckdb-", dir=temp_dir))
        self.threads = threads or os.cpu_count() or 2
        self.con: Any = duckdb_connect(
            memory_limit=memory_limit,
            threads=self.threads,
            temp_directory=str(self._tmp / "spill"),
            preserve_insertion_order=False,
        )
        self._s3_registered = False
        self._staged: set[str] = set()
        # half the memory DuckDB may hold, in raw JSON per staged part: 1M events' pin topic (670 MB)
        # stays whole under the default limit; a bigger lake is read in parts instead of spilled
        self.part_bytes = part_bytes or memory_bytes(memory_limit) // 2
        self._parts: dict[str, tuple[list[list[LakeFile]], LakeStore]] = {}

    def _register_s3(self) -> None:
        if not self._s3_registered:
            import s3fs

            self.con.register_filesystem(s3fs.S3FileSystem())
            self._s3_registered = True

    def _read_text(self, topic: str, locations: Sequence[str]) -> str:
        """(topic, partition, offset, value) of plain files at ``locations``: one ``read_text`` scan of them."""
        paths = ", ".join(literal(location) for location in locations)
        return duckdb_records_sql(f"read_text([{paths}])", topic)

    def _raw_source(self, kind: str, plain: Sequence[LakeFile], packed: pa.Table | None) -> str:
        """A relation of (topic, partition, offset, value) over ``plain`` files and ``packed`` records."""
        parts: list[str] = []
        if plain:
            paths = [f.local_path for f in plain]
            if any(path is None for path in paths):
                self._register_s3()
            locations = [str(path or f.url) for f, path in zip(plain, paths, strict=True)]
            # one scan per thread (round robin keeps their sizes even): each is a pipeline of its own
            groups = [locations[i :: self.threads] for i in range(min(self.threads, len(plain)))]
            parts.extend(self._read_text(plain[0].info.topic, group) for group in groups)
        if packed is not None or not parts:
            self.con.register(f"packed_{kind}", packed if packed is not None else RAW_RECORD_SCHEMA.empty_table())
            parts.append(f"SELECT * FROM packed_{kind}")
        return "(" + " UNION ALL ".join(parts) + ") AS raw"

    def _stage(self, kind: str, files: Sequence[LakeFile], lake: LakeStore) -> pa.Table:
        """Stage ``kind``'s records as table ``staged_<kind>``; returns the lines that are not UTF-8.

        A file ``read_text`` refuses (bytes that are not UTF-8) fails the whole statement: then every
        plain file is checked once and the ones that fail go through Python with the gzip files.
        """
        plain = [f for f in files if not f.info.compressed]
        odd = [f for f in files if f.info.compressed]
        for attempt in range(2):
            packed, bad_lines = (None, None)
            if odd:
                read = [read_records(lake, f) for f in odd]
                packed = pa.concat_tables([records for records, _ in read])
                bad_lines = pa.concat_tables([bad for _, bad in read])
            source = self._raw_source(kind, plain, packed)
            try:
                # a table of the in-memory database (not TEMP): the writers' cursors must see it
                self.con.execute(f"CREATE OR REPLACE TABLE staged_{kind} AS {staged_sql(DUCKDB, kind, source)}")
            except Exception as exc:
                if attempt or _NOT_UTF8 not in str(exc):
                    raise
                not_utf8 = {f.url for f in not_utf8_files(lake, plain)}
                odd += [f for f in plain if f.url in not_utf8]
                plain = [f for f in plain if f.url not in not_utf8]
                continue
            finally:
                if packed is not None or not plain:
                    self.con.unregister(f"packed_{kind}")
            self._staged.add(kind)
            return bad_lines if bad_lines is not None else DEAD_RECORD_SCHEMA.empty_table()
        raise AssertionError("unreachable")  # pragma: no cover

    def _stage_counted(self, kind: str, files: Sequence[LakeFile], lake: LakeStore) -> tuple[int, pa.Table]:
        """Stage ``files`` as ``staged_<kind>``: (records read, their dead letters)."""
        not_utf8 = self._stage(kind, files, lake)
        count = int(self.con.sql(f"SELECT count(*) FROM staged_{kind}").fetchall()[0][0]) + not_utf8.num_rows
        dead = self.con.sql(dead_letter_sql(DUCKDB, f"staged_{kind}")).to_arrow_table()
        return count, pa.concat_tables([dead, not_utf8.cast(dead.schema)])

    def clean(self, files: Mapping[str, Sequence[LakeFile]], lake: LakeStore) -> Cleaned:
        """Stage each kind whole, or, past half the memory limit of JSON, leave it to be staged a part at
        a time while it is written (:meth:`merge_clean` then fills in what was read)."""
        read: dict[str, int] = {}
        dead: list[pa.Table] = [DEAD_RECORD_SCHEMA.empty_table()]
        self._parts.clear()
        for kind, kind_files in files.items():
            parts = lake_parts(kind_files, self.part_bytes)
            if len(parts) > 1:
                self._parts[kind] = (parts, lake)
                read[kind] = 0
                continue
            read[kind], kind_dead = self._stage_counted(kind, kind_files, lake)
            dead.append(kind_dead)

        def rows(kind: str) -> pa.RecordBatchReader:
            return self.con.sql(clean_sql(DUCKDB, kind, f"staged_{kind}")).to_arrow_reader(BATCH_ROWS)

        # one kind at a time: each write below already runs on every thread
        return Cleaned(records_read=read, dead_letters=pa.concat_tables(dead), rows=rows, writers=1)

    def merge_clean(self, cleaned: Cleaned, kind: str, uri: str, metadata: Mapping[str, str]) -> int:
        """New rows as Parquet files DuckDB writes into the table, the others merged by delta-rs.

        A kind left in parts is staged and written one part at a time, in the lake's (partition,
        offset) order: a part's rows whose ``ind`` an earlier part gave are left out (the earlier
        record wins), and the table's bound on ``ind`` is the one it had before this run.
        """
        # DuckDB cannot write to S3 here: delta-rs does it all there, and finds the table's bound itself
        bound = None if uri.startswith(("s3://", "s3a://")) else upsert_bound(uri)
        planned = self._parts.pop(kind, None)
        if planned is None:
            try:
                return self._write_staged(kind, uri, metadata, bound)
            finally:
                self._drop_staged(kind)
        parts, lake = planned
        key = f"f_{ID_FIELD[kind]}"
        self.con.execute("CREATE OR REPLACE TABLE seen_inds (ind BIGINT)")  # what earlier parts gave
        written = 0
        try:
            for part in parts:
                count, dead = self._stage_counted(kind, part, lake)
                cleaned.records_read[kind] += count
                cleaned.dead_letters = pa.concat_tables([cleaned.dead_letters, dead])
                try:
                    # the part's inds that an earlier part gave, found by probing everything seen with a
                    # hash table of the part's own (not one of everything seen, rebuilt for every part)
                    self.con.execute(
                        f"CREATE OR REPLACE TABLE part_inds AS SELECT DISTINCT {key} AS ind FROM staged_{kind}"
                        " WHERE reason IS NULL"
                    )
                    self.con.execute(
                        "CREATE OR REPLACE TABLE repeated_inds AS"
                        " SELECT ind FROM seen_inds WHERE ind IN (SELECT ind FROM part_inds)"
                    )
                    written += self._write_staged(kind, uri, metadata, bound, exclude="repeated_inds")
                    self.con.execute(
                        "INSERT INTO seen_inds SELECT ind FROM part_inds"
                        " WHERE ind NOT IN (SELECT ind FROM repeated_inds)"
                    )
                finally:
                    self._drop_staged(kind)
        finally:
            self.con.execute(
                "DROP TABLE IF EXISTS seen_inds; DROP TABLE IF EXISTS part_inds; DROP TABLE IF EXISTS repeated_inds"
            )
        return written

    def _drop_staged(self, kind: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS staged_{kind}")
        self._staged.discard(kind)

    def _write_staged(
        self,
        kind: str,
        uri: str,
        metadata: Mapping[str, str],
        bound_of_table: tuple[bool, int | None] | None,
        exclude: str | None = None,
    ) -> int:
        """Write ``staged_<kind>``'s clean rows (but those of ``exclude``) into the table at ``uri``, whose
        statistics said (known, largest ``ind``) — ``None``: delta-rs writes it all; how many rows there were."""
        schema = CLEAN_SCHEMAS[kind]
        clean = f"SELECT * FROM ({clean_sql(DUCKDB, kind, f'staged_{kind}', exclude)}) AS clean"
        if bound_of_table is None:
            return merge_counted(uri, self.con.sql(clean).to_arrow_reader(BATCH_ROWS), kind, metadata)
        known, bound = bound_of_table
        if not known:  # a table without statistics: merge everything, as delta-rs would
            return self._merge(clean, uri, kind, metadata)
        written = self._append(clean + ("" if bound is None else f" WHERE ind > {bound}"), uri, schema, metadata)
        if bound is not None:
            written += self._merge(f"{clean} WHERE ind <= {bound}", uri, kind, metadata)
        return written

    def _append(self, query: str, uri: str, schema: pa.Schema, metadata: Mapping[str, str]) -> int:
        """COPY ``query``'s rows into ``uri``'s folder and commit the files as one append."""
        folder = Path(table_location(uri))
        folder.mkdir(parents=True, exist_ok=True)
        written = self.con.execute(
            f"COPY ({query}) TO {literal(str(folder))} (FORMAT parquet, PER_THREAD_OUTPUT true, APPEND true,"
            f" FILENAME_PATTERN 'part-{{uuid}}', FILE_SIZE_BYTES '{FILE_SIZE}', RETURN_STATS true,"
            " DICTIONARY_SIZE_LIMIT 1)"
        ).fetchall()
        files = [_file_stats(folder, row) for row in written if row[1]]
        if files or open_table(uri) is None:
            add_files(uri, files, schema, metadata)
        return sum(f.rows for f in files)

    def _merge(self, query: str, uri: str, kind: str, metadata: Mapping[str, str]) -> int:
        """Merge ``query``'s rows on ``ind`` through delta-rs (matched rows updated); how many there were."""
        count = int(self.con.sql(f"SELECT count(*) FROM ({query}) AS merged").fetchall()[0][0])
        if count:
            reader = self.con.sql(query).to_arrow_reader(BATCH_ROWS)
            merge_rows(uri, reader, CLEAN_SCHEMAS[kind], ("ind",), update=True, metadata=metadata)
        return count

    def insights(self, tables: Mapping[str, str]) -> dict[str, pa.Table]:
        """The nine insights over the whole warehouse tables, each read once (just the columns they use).

        DuckDB reads the tables' Parquet files itself where it can (local tables whose protocol it needs
        nothing more for); scanning Arrow datasets instead cost 3× the queries themselves.
        """
        for kind, view in VIEWS.items():
            columns = ", ".join(f'"{c}"' for c in VIEW_COLUMNS[kind])
            table = open_table(tables[kind]) if kind in tables else None
            files = parquet_files(table) if table is not None else None
            if files:
                source = f"read_parquet([{', '.join(literal(f) for f in files)}])"
            else:
                data = table.to_pyarrow_dataset() if table is not None else CLEAN_SCHEMAS[kind].empty_table()
                self.con.register(f"delta_{kind}", data)
                source = f"delta_{kind}"
            try:
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE {view} AS SELECT {columns} FROM {source}")
            finally:
                if not files:
                    self.con.unregister(f"delta_{kind}")
        return {name: self.con.sql(insight.sql).to_arrow_table() for name, insight in INSIGHTS.items()}

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)


# dead letters before their source and time are added (dead_letter_sql's columns)
DEAD_RECORD_SCHEMA = pa.schema(
    [*RAW_RECORD_SCHEMA, pa.field("reason", pa.string())],
)


def read_records(lake: LakeStore, file: LakeFile) -> tuple[pa.Table, pa.Table]:
    """A file's records as (topic, partition, offset, value), and its lines that are not UTF-8 as dead
    letters (topic, partition, offset, value, reason): they keep their offsets, the others keep theirs."""
    split = text_records(read_file(lake, file), file.info.start_offset)
    records = _records(file, split.offsets, split.values)
    dead = _records(file, split.not_utf8_offsets, split.not_utf8_values)
    reasons = pa.array([NOT_UTF8_REASON] * dead.num_rows, pa.string())
    return records, dead.append_column("reason", reasons)


def _records(file: LakeFile, offsets: Sequence[int], values: Sequence[str]) -> pa.Table:
    n = len(values)
    columns: dict[str, Any] = {
        "topic": pa.array([file.info.topic] * n, pa.string()),
        "partition": pa.array([file.info.partition] * n, pa.int64()),
        "offset": pa.array(offsets, pa.int64()),
        "value": pa.array(values, pa.string()),
    }
    return pa.table(columns, schema=RAW_RECORD_SCHEMA)


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}  # fmt: skip


def memory_bytes(limit: str) -> int:
    """DuckDB's ``memory_limit`` spelling (``1500MB``, ``2GiB``, ``4 GB``) as bytes."""
    found = re.fullmatch(r"\s*([0-9]+(?:[.][0-9]+)?)\s*([A-Za-z]*)\s*", limit)
    if found is None or found.group(2).upper() not in _UNITS:
        raise ConfigError(
            f"PINPIPE_DUCKDB_MEMORY_LIMIT {limit!r} is not a size", hint="write it as DuckDB does: 1500MB, 4GB, 2GiB"
        )
    return int(float(found.group(1)) * _UNITS[found.group(2).upper()])


def lake_parts(files: Sequence[LakeFile], part_bytes: int) -> list[list[LakeFile]]:
    """``files`` (in the lake's order) cut into runs of at most ``part_bytes`` of local file sizes.

    A file bigger than that is a part by itself; files whose size is not known here (an S3 lake's:
    its listing gives none) count as nothing, so such a lake is staged whole, as before. A gzip file
    counts its compressed size, so a gzip lake's parts hold several times more JSON.
    """
    parts: list[list[LakeFile]] = [[]]
    size = 0
    for file in files:
        path = file.local_path
        length = path.stat().st_size if path is not None else 0
        if parts[-1] and size + length > part_bytes:
            parts.append([])
            size = 0
        parts[-1].append(file)
        size += length
    return parts if parts[-1] else []


def not_utf8_files(lake: LakeStore, files: Sequence[LakeFile]) -> list[LakeFile]:
    """Those of ``files`` holding bytes that are not UTF-8 (``read_text`` refuses them whole)."""

    def bad(file: LakeFile) -> bool:
        try:
            read_file(lake, file).decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False

    with ThreadPoolExecutor(max_workers=4) as pool:  # reads wait on I/O (S3) more than on the GIL
        return [f for f, is_bad in zip(files, pool.map(bad, files), strict=True) if is_bad]


def _file_stats(folder: Path, row: tuple[Any, ...]) -> FileStats:
    """A COPY ... RETURN_STATS row (filename, count, size, footer, column_statistics, …) as FileStats.

    DuckDB names a column ``"name"`` (quoted) and a nested one ``"name"."element"``; only top-level
    columns matter to Delta's statistics.
    """
    filename, count, size, _, columns = row[:5]
    top: dict[str, dict[str, str]] = {}
    for name, stats in (columns or {}).items():
        if name.startswith('"') and name.endswith('"') and name.count('"') == 2:
            top[name[1:-1]] = dict(stats)
    return FileStats(path=Path(filename).relative_to(folder).as_posix(), size=int(size), rows=int(count), columns=top)
