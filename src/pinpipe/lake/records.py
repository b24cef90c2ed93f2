"""How a sink file's lines become records, for each family of readers: one rule, in each runtime's terms.

The rule, whoever reads:

- a record per line, split as :func:`pinpipe.lake.format.split_lines` splits (the newline that ends the
  last record ends nothing more); a blank line is an offset without a record (a Kafka transaction's
  marker, an aborted record: :data:`pinpipe.lake.format.NO_RECORD`), counted but never read;
- a record's (partition, offset) is its file's partition and start offset, read from the file's name
  (:data:`~pinpipe.lake.layout.PARTITION_IN_NAME`, :data:`~pinpipe.lake.layout.START_IN_NAME`), plus its
  line number — what dead letters and deduplication key on;
- a line that is not UTF-8 stays one record with its offset and its bytes as they are, so the reader
  dead-letters it (as the Python stream job does) rather than parse a text a decoder already altered,
  and the file's other records keep their offsets.

Two families, because two runtimes hold the rows:

- in this process (Python, and DuckDB): :func:`text_records` for bytes read here, and
  :func:`duckdb_records_sql`, the same rule as SQL over DuckDB's ``read_text`` (what DuckDB reads
  natively: plain files of valid UTF-8; it hands the rest to :func:`text_records`);
- Spark (the batch engine and the stream job's file source): :func:`spark_records`, on the executors.

``tests/lake/test_records.py`` holds the three to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pinpipe.lake.format import split_lines
from pinpipe.lake.layout import PARTITION_IN_NAME, START_IN_NAME
from pinpipe.log.names import validate_name


@dataclass(frozen=True, slots=True)
class TextRecords:
    """A file's records as text, the lines that are not UTF-8 apart (shown with U+FFFD for the bad bytes:
    text can hold no others)."""

    offsets: list[int]
    values: list[str]
    not_utf8_offsets: list[int]
    not_utf8_values: list[str]


def text_records(data: bytes, start_offset: int) -> TextRecords:
    """The records of a file's (inflated) bytes, offsets from ``start_offset``."""
    chunks = split_lines(data)
    try:
        # one decode and one split of the whole text: the common case, and the fast one
        values = data.decode("utf-8").split("\n")[: len(chunks)]
    except UnicodeDecodeError:
        pass
    else:
        if "" not in values:
            return TextRecords(list(range(start_offset, start_offset + len(values))), values, [], [])
        kept = [(offset, value) for offset, value in enumerate(values, start_offset) if value]
        return TextRecords([o for o, _ in kept], [v for _, v in kept], [], [])
    good = TextRecords([], [], [], [])
    for offset, chunk in enumerate(chunks, start_offset):
        if not chunk:
            continue
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            good.not_utf8_offsets.append(offset)
            good.not_utf8_values.append(chunk.decode("utf-8", errors="replace"))
        else:
            good.offsets.append(offset)
            good.values.append(text)
    return good


def duckdb_records_sql(source: str, topic: str) -> str:
    """(topic, partition, offset, value) of the files of ``source``, a DuckDB relation of (filename,
    content) such as ``read_text([...])``.

    Partition and start offset are read from the name once per file, before the lines are unnested.
    """
    name = validate_name(topic)  # [A-Za-z0-9._-]: safe between quotes, as the two patterns are
    return (
        f"SELECT '{name}' AS topic, file_partition AS partition, start + i - 1 AS offset, value"
        f" FROM (SELECT CAST(regexp_extract(filename, '{PARTITION_IN_NAME}', 1) AS BIGINT) AS file_partition,"
        f" CAST(regexp_extract(filename, '{START_IN_NAME}', 1) AS BIGINT) AS start,"
        " unnest(lines) AS value, generate_subscripts(lines, 1) AS i"
        f" FROM (SELECT filename, string_split(content, chr(10)) AS lines FROM {source})) AS split"
        " WHERE value <> ''"
    )


def spark_records(files: Any, topic: str, filename: Any = None) -> Any:
    """(topic, partition, offset, value) of ``files``, a Spark frame of whole files (``value`` as the
    text source's ``wholetext`` gives it, and ``filename`` unless the ``filename`` column is given),
    batch or streaming.

    The batch gives ``input_file_name()`` as ``filename``: taken in the projection that explodes the
    lines, as here, not selected beforehand — measured on 40k events, a first ``select`` of it made the
    first table's read 20 times slower (78 s instead of 3.8 s).

    Blank lines (offsets without a record) are dropped after the explode, which numbers them.
    The newline that ends the last record is stripped before the split, so the exploded rows never
    carry the file's whole text (1,000 records per file × its size blew a 1 GB heap when they did). A
    file holding bytes that are not UTF-8 is split byte for byte, through ISO-8859-1 (one character per
    byte, and back): a split of the text itself turns bad bytes into U+FFFD first, and the shared
    cleaning could no longer tell (and dead-letter) the lines that hold them.
    """
    from pyspark.sql import functions as F

    utf8 = F.expr("is_valid_utf8(value)")
    content = F.when(utf8, F.col("value")).otherwise(F.expr("decode(CAST(value AS BINARY), 'ISO-8859-1')"))
    lines = files.where(F.length("value") > 0).select(
        F.col("filename") if filename is None else filename.alias("filename"),
        utf8.alias("utf8"),
        F.posexplode(F.split(F.regexp_replace(content, "\n\\z", ""), "\n")).alias("pos", "line"),
    )
    return lines.where(F.col("line") != "").select(
        F.lit(topic).alias("topic"),
        F.regexp_extract("filename", PARTITION_IN_NAME, 1).cast("bigint").alias("partition"),
        (F.regexp_extract("filename", START_IN_NAME, 1).cast("bigint") + F.col("pos")).alias("offset"),
        F.when(F.col("utf8"), F.col("line"))
        .otherwise(F.expr("CAST(encode(line, 'ISO-8859-1') AS STRING)"))
        .alias("value"),
    )
