"""Finding the raw lake's files for a run: both layouts, one day or everything, local or s3://.

Listing is done once here (fsspec) for every engine, so DuckDB and Spark are handed the same files
and differ only in how they read bytes. A record's (partition, offset) comes from its file's name
(``<topic>+<p>+<startOffset>``) plus its line number, which is what dead letters and
deduplication key on.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa

from pinpipe.clean.schema import NOT_UTF8_REASON, RAW_RECORD_SCHEMA
from pinpipe.errors import PinpipeError
from pinpipe.lake.layout import day_prefix, parse_key, topic_prefix


@dataclass(frozen=True, slots=True)
class LakeFile:
    """One sink file: where it is and which records it holds."""

    url: str  # protocol-qualified: file:///… or s3://…
    path: str  # as its filesystem names it (local path, bucket/key)
    topic: str
    partition: int
    start_offset: int
    day: date | None
    compressed: bool


class Lake:
    """The raw lake at ``url`` (``file://`` or any fsspec URL such as ``s3://bucket/lake``)."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.root = self.root.rstrip("/")
        self.fs.invalidate_cache()

    def _dir(self, prefix: str) -> str:
        return f"{self.root}/{prefix.rstrip('/')}"

    def _find(self, prefix: str) -> list[LakeFile]:
        folder = self._dir(prefix)
        if not self.fs.exists(folder):
            return []
        found = []
        for path in self.fs.find(folder):
            relative = path[len(self.root) :].lstrip("/") if path.startswith(self.root) else path
            obj = parse_key(relative)
            if obj is None:
                continue  # temp files and strays are not sink files
            found.append(
                LakeFile(
                    url=self.fs.unstrip_protocol(path),
                    path=path,
                    topic=obj.topic,
                    partition=obj.partition,
                    start_offset=obj.start_offset,
                    day=obj.day,
                    compressed=obj.compressed,
                )
            )
        return sorted(found, key=lambda f: (f.partition, f.start_offset, f.url))

    def layouts(self, topic: str) -> set[str]:
        """Which layouts a topic's folder holds: ``daily`` (year=…) and/or ``default`` (partition=…)."""
        folder = self._dir(topic_prefix(topic))
        if not self.fs.exists(folder):
            return set()
        names = [str(p).rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(folder, detail=False)]
        found = set()
        if any(n.startswith("year=") for n in names):
            found.add("daily")
        if any(n.startswith("partition=") for n in names):
            found.add("default")
        return found

    def files(self, topic: str, day: date | None = None) -> list[LakeFile]:
        """Every sink file of ``topic`` (both layouts), or only those of ``day``'s daily folder."""
        if day is None:
            return self._find(topic_prefix(topic))
        return self._find(day_prefix(topic, day))

    def check_daily(self, topics: list[str]) -> None:
        """Raise a clear error when none of ``topics`` is in the daily layout (``--date`` cannot work)."""
        layouts = {t: self.layouts(t) for t in topics}
        if any("daily" in found for found in layouts.values()):
            return
        if not any(layouts.values()):
            raise PinpipeError(
                f"the lake at {self.url} holds no files for {', '.join(topics)}",
                hint="run `pinpipe sink run` first, or check PINPIPE_LAKE_URL and --prefix",
            )
        raise PinpipeError(
            f"the lake at {self.url} has no daily layout (year=/month=/day= folders), so --date cannot pick a day",
            hint="use `pinpipe batch run --all`, or sink with --partitioner daily",
        )

    def read_bytes(self, file: LakeFile) -> bytes:
        """A file's records as bytes, one per line (``.json.gz`` decompressed)."""
        with self.fs.open(file.path, "rb") as handle:
            data: bytes = handle.read()
        return gzip.decompress(data) if file.compressed else data

    def read_records(self, file: LakeFile) -> tuple[pa.Table, pa.Table]:
        """A file's records as (topic, partition, offset, value), and its lines that are not UTF-8 as
        dead letters (topic, partition, offset, value, reason): see :func:`records_table`."""
        return records_table(file, self.read_bytes(file))

    def not_utf8(self, files: Sequence[LakeFile]) -> list[LakeFile]:
        """Those of ``files`` holding bytes that are not UTF-8 (a reader of text refuses them whole)."""

        def bad(file: LakeFile) -> bool:
            try:
                self.read_bytes(file).decode("utf-8")
            except UnicodeDecodeError:
                return True
            return False

        with ThreadPoolExecutor(max_workers=4) as pool:  # reads wait on I/O (S3) more than on the GIL
            return [f for f, is_bad in zip(files, pool.map(bad, files), strict=True) if is_bad]


def records_table(file: LakeFile, data: bytes) -> tuple[pa.Table, pa.Table]:
    """Split a file's bytes into one record per line (a final newline ends the last record).

    A line that is not UTF-8 is not a record any parser could read: it becomes a dead letter
    (:data:`NOT_UTF8_REASON`, its bytes shown with U+FFFD for what is not UTF-8) and keeps its offset,
    so the file's other records keep theirs.
    """
    chunks = data.split(b"\n")
    if chunks and chunks[-1] == b"":
        chunks.pop()
    try:
        lines = data.decode("utf-8").split("\n")[: len(chunks)]
        bad: list[int] = []
    except UnicodeDecodeError:
        lines, bad = [], []
        for i, chunk in enumerate(chunks):
            try:
                lines.append(chunk.decode("utf-8"))
            except UnicodeDecodeError:
                bad.append(i)
                lines.append(chunk.decode("utf-8", errors="replace"))
    offsets = range(file.start_offset, file.start_offset + len(lines))
    is_bad = set(bad)
    good = [i for i in range(len(lines)) if i not in is_bad] if bad else range(len(lines))
    records = _records(file, [offsets[i] for i in good], [lines[i] for i in good])
    dead = _records(file, [offsets[i] for i in bad], [lines[i] for i in bad])
    dead = dead.append_column("reason", pa.array([NOT_UTF8_REASON] * len(bad), pa.string()))
    return records, dead


def _records(file: LakeFile, offsets: Sequence[int], values: Sequence[str]) -> pa.Table:
    n = len(values)
    columns: dict[str, Any] = {
        "topic": pa.array([file.topic] * n, pa.string()),
        "partition": pa.array([file.partition] * n, pa.int64()),
        "offset": pa.array(offsets, pa.int64()),
        "value": pa.array(values, pa.string()),
    }
    return pa.table(columns, schema=RAW_RECORD_SCHEMA)
