"""The lake store and format: whole objects or nothing, temps never visible, deterministic bytes."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from pinpipe.errors import ConfigError, PinpipeError, ValidationError
from pinpipe.lake.format import count_records, decode, encode, gzip_bytes, json_lines
from pinpipe.lake.layout import Compression, Partitioner, object_key
from pinpipe.lake.local import TMP_DIR, LocalLake
from pinpipe.lake.store import check_daily, layouts, open_lake, read_file, sink_files
from tests.sink.helpers import assert_no_temps

ROWS = [b'{"index":1,"title":"a"}', b'{"index":2,"title":"caf\xc3\xa9"}', b'{"index":3}']


# ---------------------------------------------------------------- format


def test_json_lines_is_one_value_per_line_verbatim() -> None:
    assert json_lines(ROWS) == b"\n".join(ROWS) + b"\n"
    assert json_lines([]) == b""


def test_values_that_would_break_the_framing_are_mended_without_parsing() -> None:
    pretty = b'{\n  "index": 4,\r\n  "x": [1,\r 2]\n}'
    data = json_lines([ROWS[0], pretty, b"", ROWS[1]])
    lines = data.split(b"\n")[:-1]
    assert lines == [ROWS[0], b'{   "index": 4,   "x": [1,  2] }', b"null", ROWS[1]]


def test_gzip_bytes_are_deterministic_and_standard() -> None:
    body = json_lines(ROWS * 100)
    first, second = gzip_bytes(body), gzip_bytes(body)
    assert first == second
    assert first[4:8] == b"\x00\x00\x00\x00"  # no mtime
    assert first[3] == 0  # no file name, no comment
    assert gzip.decompress(first) == body


@pytest.mark.parametrize("compression", list(Compression))
def test_encode_decode_round_trip(compression: Compression) -> None:
    data = encode(ROWS, compression)
    gz = compression is Compression.GZIP
    assert decode(data, compressed=gz) == ROWS
    assert count_records(data, compressed=gz) == 3


# ---------------------------------------------------------------- local store


def test_open_lake_takes_bare_paths_and_refuses_unknown_schemes(tmp_path: Path) -> None:
    store = open_lake(str(tmp_path / "lake"))
    assert isinstance(store, LocalLake) and store.url.startswith("file://")
    with pytest.raises(ConfigError):
        open_lake("ftp://host/lake")


@pytest.mark.parametrize("key", ["/abs/x.json", "topics/../../x", "topics//x", "", "topics/./x"])
def test_keys_cannot_escape_the_lake(tmp_path: Path, key: str) -> None:
    store = open_lake(str(tmp_path))
    with pytest.raises(ValidationError):
        store.write({key: b"x"})


def test_write_read_list_and_replace(tmp_path: Path) -> None:
    store = open_lake((tmp_path / "lake").as_uri())
    k1 = object_key("t", 0, 0, partitioner=Partitioner.DEFAULT)
    k2 = object_key("t", 0, 3, partitioner=Partitioner.DAILY, timestamp_ms=0)
    store.write({k1: b"one\n", k2: b"two\n"})
    assert store.read(k1) == b"one\n" and store.read(k2) == b"two\n"
    assert store.read("topics/t/partition=0/missing.json") is None
    assert sorted(store.list_keys()) == sorted([k1, k2])
    store.write({k1: b"again\n"})  # a replay replaces the object whole
    assert store.read(k1) == b"again\n"
    assert [f.key for f in sink_files(store)] == [k1, k2]
    assert [f.key for f in sink_files(store, "t")] == [k1, k2] and sink_files(store, "u") == []
    assert_no_temps(store)
    assert os.listdir(tmp_path / "lake" / TMP_DIR) == []  # nothing left behind either


def test_temps_of_a_crashed_writer_are_invisible_and_cleaned(tmp_path: Path) -> None:
    """A writer killed between its temp write and the rename leaves only a temp nobody lists."""
    lake = tmp_path / "lake"
    store = LocalLake(lake.as_uri())
    key = object_key("t", 0, 0, partitioner=Partitioner.DEFAULT)
    store.write({key: b"committed\n"})
    # A real process that dies with a temp written: its pid is then certainly dead.
    code = (
        "import os,sys; from pinpipe.lake.local import LocalLake; s=LocalLake(sys.argv[1]); "
        "p=s.tmp/f'{s._tag}0.tmp'; p.write_bytes(b'half'); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, lake.as_uri()], check=True, timeout=60)
    leftovers = os.listdir(lake / TMP_DIR)
    assert len(leftovers) == 1 and leftovers[0].startswith(socket.gethostname())
    assert list(store.list_keys()) == [key]  # readers see only the sink file
    assert_no_temps(store)
    LocalLake(lake.as_uri())  # the next store on this host removes it
    assert os.listdir(lake / TMP_DIR) == []
    assert store.read(key) == b"committed\n"


def test_a_live_writers_temp_is_kept(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    store = LocalLake(lake.as_uri())
    mine = store.tmp / f"{store._tag}99.tmp"  # this process is alive
    mine.write_bytes(b"in flight")
    LocalLake(lake.as_uri())
    assert mine.exists()


def test_a_write_that_fills_the_disk_leaves_no_temps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk fails some of a write's parallel stages: the temps of the stages that succeeded go too
    (a sink that stopped on "No space left on device" had left 48 of them, most of the disk)."""
    import errno

    from pinpipe.errors import DiskFullError

    lake = tmp_path / "lake"
    store = LocalLake(lake.as_uri())
    stage = LocalLake._stage
    calls = 0

    def third_fills_the_disk(self: LocalLake, data: bytes) -> Path:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return stage(self, data)

    monkeypatch.setattr(LocalLake, "_stage", third_fills_the_disk)
    objects = {f"topics/t/partition=0/t+0+{i:010d}.json": b'{"a": 1}\n' * 100 for i in range(8)}
    with pytest.raises(DiskFullError, match="the lake's disk is full"):
        store.write(objects)
    assert calls == 8  # every stage ran, and each one that wrote a temp had it removed
    assert list((lake / TMP_DIR).iterdir()) == []
    assert list((lake / "topics").rglob("*.json")) == []  # nothing published: the stage failed first


# ---------------------------------------------------------------- the read path


def test_sink_files_carry_their_url_and_list_one_days_folder(tmp_path: Path) -> None:
    store = open_lake(str(tmp_path / "lake"))
    day1 = object_key("t", 0, 0, partitioner=Partitioner.DAILY, timestamp_ms=0)
    day2 = object_key("t", 0, 5, partitioner=Partitioner.DAILY, timestamp_ms=86_400_000, compression=Compression.GZIP)
    flat = object_key("t", 1, 0, partitioner=Partitioner.DEFAULT)
    store.write({day1: b"a\n", day2: encode([b"b", b"c"], Compression.GZIP), flat: b"d\n"})
    every = sink_files(store, "t")
    assert [f.key for f in every] == [day1, day2, flat]
    assert [f.url for f in every] == [f"{store.url}/{k}" for k in (day1, day2, flat)]
    assert [f.local_path for f in every] == [tmp_path / "lake" / k for k in (day1, day2, flat)]
    assert [f.key for f in sink_files(store, "t", date(1970, 1, 2))] == [day2]
    assert sink_files(store, "t", date(2030, 1, 1)) == [] and sink_files(store, "u", date(1970, 1, 1)) == []
    assert [read_file(store, f) for f in every] == [b"a\n", b"b\nc\n", b"d\n"]  # .json.gz inflated
    assert layouts(store, "t") == {"daily", "default"} and layouts(store, "u") == set()


def test_a_lake_path_with_escapes_names_its_files_as_url_and_path(tmp_path: Path) -> None:
    root = tmp_path / "my lake %"
    store = open_lake(str(root))
    key = object_key("t", 0, 0, partitioner=Partitioner.DEFAULT)
    store.write({key: b"a\n"})
    (found,) = sink_files(store)
    assert found.url == f"{root.as_uri()}/{key}" and found.local_path == root / key
    assert read_file(store, found) == b"a\n"


def test_check_daily_tells_an_empty_lake_from_one_without_days(tmp_path: Path) -> None:
    store = open_lake(str(tmp_path / "lake"))
    with pytest.raises(PinpipeError, match="holds no files for t, u"):
        check_daily(store, ["t", "u"])
    store.write({object_key("t", 0, 0, partitioner=Partitioner.DEFAULT): b"a\n"})
    with pytest.raises(PinpipeError, match="no daily layout"):
        check_daily(store, ["t", "u"])
    store.write({object_key("u", 0, 0, partitioner=Partitioner.DAILY, timestamp_ms=0): b"a\n"})
    check_daily(store, ["t", "u"])


def test_a_reader_changes_nothing_in_the_lake(tmp_path: Path) -> None:
    """The batch opens the lake read-only: no folders made, no temps tidied, no writes."""
    lake = tmp_path / "lake"
    reader = open_lake(str(lake), read_only=True)
    assert not lake.exists() and sink_files(reader) == [] and layouts(reader, "t") == set()
    writer = LocalLake(lake.as_uri())
    dead = writer.tmp / f"{socket.gethostname()}-999999999-0.tmp"  # no such pid
    dead.write_bytes(b"half")
    open_lake(str(lake), read_only=True)
    assert dead.exists()
    with pytest.raises(ConfigError, match="reading only"):
        reader.write({object_key("t", 0, 0, partitioner=Partitioner.DEFAULT): b"a\n"})


def test_a_file_gone_between_listing_and_reading_is_a_clear_error(tmp_path: Path) -> None:
    from pinpipe.errors import BackendUnavailableError

    store = open_lake(str(tmp_path / "lake"))
    key = object_key("t", 0, 0, partitioner=Partitioner.DEFAULT)
    store.write({key: b"a\n"})
    (found,) = sink_files(store)
    (tmp_path / "lake" / key).unlink()
    with pytest.raises(BackendUnavailableError, match="vanished"):
        read_file(store, found)
