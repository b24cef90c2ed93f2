"""The Spark variant on a small lake: file source → foreachBatch → shared cleaning → Delta, exactly once."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import orjson
import pytest
from deltalake import DeltaTable

from pinpipe.lake.layout import Compression, Partitioner, object_key
from pinpipe.settings import Settings, get_settings
from pinpipe.stream.spark import SparkStreamOptions, app_id, run_spark_stream
from tests.stream.rows import ROWS

pytestmark = [pytest.mark.spark, pytest.mark.slow]

DAY_MS = 1_700_000_000_000


def write_file(
    settings: Settings,
    kind: str,
    partition: int,
    start: int,
    lines: list[bytes],
    *,
    partitioner: Partitioner = Partitioner.DAILY,
    compression: Compression = Compression.NONE,
) -> None:
    """One sink file, named as the sink names it (records [start, start + len(lines)) of a partition)."""
    topic = settings.topic(kind)
    key = object_key(topic, partition, start, partitioner=partitioner, timestamp_ms=DAY_MS, compression=compression)
    path = settings.home / "lake" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data) if compression is Compression.GZIP else data)


def rows_of(kind: str, inds: list[int]) -> list[bytes]:
    return [orjson.dumps(ROWS[kind](i)) for i in inds]


def inds(settings: Settings, kind: str) -> list[int]:
    table = DeltaTable(str(settings.home / "warehouse" / "stream" / kind))
    return sorted(table.to_pyarrow_table()["ind"].to_pylist())


def test_file_source_lands_each_ind_once_and_replays_are_skipped(home: Path, spark: object) -> None:
    settings = get_settings()
    for kind in ("pin", "geo", "user"):
        write_file(settings, kind, 0, 0, rows_of(kind, list(range(0, 40))))
        write_file(settings, kind, 0, 40, rows_of(kind, list(range(30, 60))), compression=Compression.GZIP)
        write_file(settings, kind, 1, 0, rows_of(kind, list(range(50, 70))), partitioner=Partitioner.DEFAULT)
    write_file(settings, "geo", 2, 0, [b"not json", orjson.dumps(ROWS["user"](5))])

    first = run_spark_stream(settings, SparkStreamOptions(until_idle=True), session=spark)
    for kind in ("pin", "geo", "user"):
        assert inds(settings, kind) == list(range(70))
    assert first.dead_letters == 2
    dead = DeltaTable(str(settings.home / "warehouse" / "dead_letter")).to_pyarrow_table().to_pylist()
    assert {(d["topic"], d["partition"], d["offset"]) for d in dead} == {
        (settings.topic("geo"), 2, 0),
        (settings.topic("geo"), 2, 1),
    }
    pin = {r["ind"]: r for r in DeltaTable(str(settings.home / "warehouse/stream/pin")).to_pyarrow_table().to_pylist()}
    assert pin[7]["title"] is None and pin[5]["follower_count"] == 6000 and pin[5]["save_location"] == "/data/beauty"

    # New files: only they are read. Then a crash after the Delta commit but before Spark's own
    # commit log is replayed by deleting that log entry: the batch id comes again and is skipped.
    for kind in ("pin", "geo", "user"):
        write_file(settings, kind, 0, 70, rows_of(kind, list(range(65, 80))))
    second = run_spark_stream(settings, SparkStreamOptions(until_idle=True), session=spark)
    assert second.written == 3 * 10
    pin_topic = settings.topic("pin")
    version = DeltaTable(str(settings.home / "warehouse/stream/pin")).transaction_version(app_id(pin_topic))
    assert version is not None
    commits = settings.checkpoints_dir / "stream-spark" / pin_topic / "commits"
    (commits / str(version)).unlink()
    shutil.rmtree(commits / f".{version}.crc", ignore_errors=True)
    (commits / f".{version}.crc").unlink(missing_ok=True)
    third = run_spark_stream(settings, SparkStreamOptions(until_idle=True), session=spark)
    assert third.skipped >= 1 and third.written == 0
    for kind in ("pin", "geo", "user"):
        assert inds(settings, kind) == list(range(80))
    assert DeltaTable(str(settings.home / "warehouse" / "dead_letter")).to_pyarrow_table().num_rows == 2
