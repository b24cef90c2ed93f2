"""Serialising a batch of record values to an object's bytes, and back: JSON lines, optional gzip.

Kept apart from where the bytes go (:mod:`pinpipe.lake.store`): local and S3 differ only in the write.

The bytes must be a pure function of the values, because exactly-once rests on a replay rewriting
the same key with the same bytes. So gzip output carries no clock and no file name: a fixed 10-byte
header (mtime 0, OS "unknown") around raw deflate at level 6 (Java's ``GZIPOutputStream`` default,
as the Kafka Connect S3 sink uses). The same zlib build gives the same bytes.

Values are written verbatim (they are already the row's JSON; re-parsing them would halve the
sink's speed). Only a value that would break the one-record-per-line framing is touched: raw line
breaks become spaces (in valid JSON they can only be whitespace between tokens, so the meaning is
unchanged) and an empty value (a tombstone) becomes ``null``.

A blank line is an offset that holds no record (:data:`NO_RECORD` in a batch): on Kafka a transaction's
commit marker takes an offset, as does an aborted record, and a ``read_committed`` reader sees neither.
Writing them as blank lines keeps DESIGN.md's rule that a record's offset is its file's start offset
plus its line number, so readers skip blank lines but count them.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Sequence

from pinpipe.lake.layout import Compression

#: In a batch of values: this offset holds no record (a Kafka transaction marker, an aborted record).
NO_RECORD = None

GZIP_LEVEL = 6
# ID1 ID2, CM=deflate, FLG=0 (no name, no comment), MTIME=0, XFL=0, OS=255 (unknown).
_GZIP_HEADER = b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + b"\x00\xff"


def _framing_broken(values: Sequence[bytes], body: bytes) -> bool:
    """True when some value is empty or holds a line break (checked with C-speed scans of ``body``)."""
    return body.count(b"\n") != len(values) - 1 or b"\r" in body or not all(values)


def _one_line(value: bytes | None) -> bytes:
    if value is NO_RECORD:
        return b""
    if not value:
        return b"null"
    return value.replace(b"\r\n", b" ").replace(b"\n", b" ").replace(b"\r", b" ")


def json_lines(values: Sequence[bytes | None]) -> bytes:
    """One value per line, each line ending in ``\\n`` (the connector's JSON format framing); a blank
    line for each :data:`NO_RECORD`."""
    if not values:
        return b""
    if NO_RECORD in values:  # a C-speed scan; then the slow path, which writes blank lines
        body = b"\n".join(_one_line(v) for v in values)
    else:
        body = b"\n".join(values)  # type: ignore[arg-type]  # no NO_RECORD among them: all bytes
        if _framing_broken(values, body):  # type: ignore[arg-type]
            body = b"\n".join(_one_line(v) for v in values)
    return body + b"\n"


def gzip_bytes(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """Deterministic gzip: no mtime, no file name, so equal input gives equal bytes."""
    deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = deflate.compress(data) + deflate.flush()
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return _GZIP_HEADER + body + trailer


def encode(values: Sequence[bytes | None], compression: Compression = Compression.NONE) -> bytes:
    """The bytes of one lake object holding ``values`` in order."""
    data = json_lines(values)
    return gzip_bytes(data) if compression is Compression.GZIP else data


def inflate(data: bytes) -> bytes:
    """A ``.json.gz`` object's JSON lines. Every gzip member is read (files other tools wrote may hold
    several, concatenated); the sink's own files hold one."""
    return gzip.decompress(data)


def split_lines(data: bytes) -> list[bytes]:
    """The lines of JSON lines, one per offset: the newline that ends the last line ends nothing more,
    so ``b""`` holds none and ``b"a\\n\\n"`` holds ``a`` and a blank line, an offset without a record
    (a record's offset is its file's start offset plus its index here, in every reader:
    :mod:`pinpipe.lake.records`)."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def decode(data: bytes, *, compressed: bool) -> list[bytes]:
    """The lines of one lake object (record values; ``b""`` where an offset holds none), for readers and
    tests."""
    return split_lines(inflate(data) if compressed else data)


def count_records(data: bytes, *, compressed: bool) -> int:
    """How many offsets an object covers (one per line, blank ones too), without splitting it."""
    if compressed:
        data = zlib.decompress(data, wbits=zlib.MAX_WBITS | 16)
    return data.count(b"\n")
