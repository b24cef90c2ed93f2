"""One rule for how a sink file's lines become records, held equal across the runtimes that apply it.

Python (:func:`text_records`), DuckDB (:func:`duckdb_records_sql` over ``read_text``) and Spark
(:func:`spark_records`) must give every file the same (partition, offset, value) records, or the
engines would key dead letters and replays differently; the file-name patterns they share must read
every name the sink writes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pinpipe.clean.sql import literal
from pinpipe.lake.format import NO_RECORD, decode, json_lines, split_lines
from pinpipe.lake.layout import (
    FILE_NAME,
    PARTITION_IN_NAME,
    START_IN_NAME,
    Compression,
    Partitioner,
    file_name,
    object_key,
)
from pinpipe.lake.records import duckdb_records_sql, spark_records, text_records
from pinpipe.lake.store import open_lake, sink_files

TOPIC = "pinterest.pin"

# file content -> its lines, by the rule (the last newline ends the last record, nothing more); a blank
# line is an offset that holds no record (a Kafka transaction's marker, an aborted record)
FRAMINGS: dict[bytes, list[bytes]] = {
    b"": [],
    b"\n": [b""],
    b"a\n": [b"a"],
    b"a": [b"a"],
    b"a\nb": [b"a", b"b"],
    b"a\n\n": [b"a", b""],
    b"a\n\nb\n": [b"a", b"", b"b"],
    b"a\n\n\n\nb\n\nc\n": [b"a", b"", b"", b"", b"b", b"", b"c"],
    '{"t":"caf\u00e9 \U0001f384"}\n{"x":1}\n'.encode(): ['{"t":"caf\u00e9 \U0001f384"}'.encode(), b'{"x":1}'],
}
NOT_UTF8 = b'{"ok":1}\n{"bad":"\xff\xfe"}\n{"ok":2}\n'


@pytest.mark.parametrize("data", list(FRAMINGS), ids=repr)
def test_split_lines_is_the_framing_rule(data: bytes) -> None:
    assert split_lines(data) == FRAMINGS[data]


def test_decode_reads_back_what_the_sink_encodes() -> None:
    values = [b'{"a":1}', b'{"b":"\xc3\xa9"}']
    assert decode(json_lines(values), compressed=False) == values
    assert decode(b"a\n\n", compressed=False) == [b"a", b""]  # the same rule as every reader


@pytest.mark.parametrize("data", list(FRAMINGS), ids=repr)
def test_text_records_number_lines_from_the_start_offset_and_skip_blank_ones(data: bytes) -> None:
    got = text_records(data, 40)
    expected = [(offset, line.decode()) for offset, line in enumerate(FRAMINGS[data], 40) if line]
    assert list(zip(got.offsets, got.values, strict=True)) == expected
    assert got.not_utf8_offsets == [] and got.not_utf8_values == []


def test_blank_lines_keep_the_offsets_of_the_records_after_them_in_a_file_that_is_not_utf8() -> None:
    got = text_records(b'{"ok":1}\n\n{"bad":"\xff"}\n\n{"ok":2}\n', 10)
    assert (got.offsets, got.values) == ([10, 14], ['{"ok":1}', '{"ok":2}'])
    assert got.not_utf8_offsets == [12]


def test_the_sink_writes_an_offset_without_a_record_as_a_blank_line() -> None:
    assert json_lines([b"a", NO_RECORD, NO_RECORD, b"b"]) == b"a\n\n\nb\n"
    assert json_lines([b"a", NO_RECORD, b""]) == b"a\n\nnull\n"  # a tombstone stays a record


def test_a_line_that_is_not_utf8_keeps_its_offset_and_the_others_theirs() -> None:
    got = text_records(NOT_UTF8, 7)
    assert got.offsets == [7, 9] and got.values == ['{"ok":1}', '{"ok":2}']
    assert got.not_utf8_offsets == [8]
    assert got.not_utf8_values == ['{"bad":"\ufffd\ufffd"}']


@pytest.mark.parametrize("compression", list(Compression))
@pytest.mark.parametrize("start", [0, 7528, 12_345_678_901])
def test_every_name_the_sink_writes_is_read_by_every_pattern(compression: Compression, start: int) -> None:
    name = file_name(TOPIC, 3, start, compression)
    match = FILE_NAME.fullmatch(name)
    assert match is not None
    assert (match["topic"], int(match["partition"]), int(match["start"])) == (TOPIC, 3, start)
    assert (match["gz"] is not None) == (compression is Compression.GZIP)
    for key in (
        object_key(TOPIC, 3, start, partitioner=Partitioner.DEFAULT, compression=compression),
        "file:///lake/" + object_key(TOPIC, 3, start, partitioner=Partitioner.DAILY, timestamp_ms=0),
    ):
        partition, offset = re.search(PARTITION_IN_NAME, key), re.search(START_IN_NAME, key)
        assert partition is not None and offset is not None
        assert (int(partition[1]), int(offset[1])) == (3, start)


def test_the_sql_patterns_are_sql_literals_both_engines_read() -> None:
    for pattern in (PARTITION_IN_NAME, START_IN_NAME):
        assert literal(pattern) == f"'{pattern}'"


def lake_files(tmp_path: Path, contents: list[bytes]) -> list[tuple[Path, int, int]]:
    """Each content as a sink file of its own: (path, partition, start offset)."""
    files = []
    for i, data in enumerate(contents):
        partition, start = i % 2, 1000 * i
        path = tmp_path / object_key(TOPIC, partition, start, partitioner=Partitioner.DEFAULT)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append((path, partition, start))
    return files


def expected_records(files: list[tuple[Path, int, int]]) -> list[tuple[str, int, int, str]]:
    rows = []
    for path, partition, start in files:
        split = text_records(path.read_bytes(), start)
        rows += [(TOPIC, partition, o, v) for o, v in zip(split.offsets, split.values, strict=True)]
    return sorted(rows)


def test_duckdb_splits_as_python_does(tmp_path: Path) -> None:
    import duckdb

    files = lake_files(tmp_path, list(FRAMINGS))
    paths = ", ".join(literal(str(path)) for path, _, _ in files)
    with duckdb.connect() as con:
        got = con.sql(duckdb_records_sql(f"read_text([{paths}])", TOPIC)).fetchall()
    assert sorted(got) == expected_records(files)


@pytest.mark.spark
@pytest.mark.slow
def test_spark_splits_as_python_does_and_keeps_bytes_that_are_not_utf8(tmp_path: Path, spark: Any) -> None:
    from pyspark.sql import functions as F

    files = lake_files(tmp_path, [*FRAMINGS, NOT_UTF8])
    # the URLs the engine reads (Path.as_uri would escape the names' "+" and "=", which Spark keeps)
    urls = [f.url for f in sink_files(open_lake(str(tmp_path), read_only=True))]
    assert len(urls) == len(files)
    text = spark.read.text(urls, wholetext=True)
    for filename in (F.input_file_name(), F.col("_metadata.file_path")):  # the batch's, the stream's
        records = spark_records(text.select(filename.alias("filename"), "value"), TOPIC)
        rows = records.select(
            "topic", "partition", "offset", F.col("value").cast("binary").alias("raw"), F.expr("is_valid_utf8(value)")
        ).collect()
        got = sorted((r[0], r[1], r[2], bytes(r[3]).decode()) for r in rows if r[4])
        assert got == expected_records(files)
        *_, (_, partition, start) = files
        bad = [(r[1], r[2], bytes(r[3])) for r in rows if not r[4]]
        assert bad == [(partition, start + 1, b'{"bad":"\xff\xfe"}')]  # the bytes as they were, its offset
