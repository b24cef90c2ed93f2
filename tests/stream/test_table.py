"""DeltaSink: rows and positions in one commit, stale and concurrent writes refused, Kinesis limbs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from pinpipe.log import TopicPartition
from pinpipe.stream.positions import DenseCodec, SequenceCodec, StaleBatchError, Stored, app_id
from pinpipe.stream.table import DeltaSink, Upkeep

SCHEMA = pa.schema([pa.field("ind", pa.int64(), nullable=False), pa.field("country", pa.string())])
TP0 = TopicPartition("streaming-pinterest-geo", 0)
TP1 = TopicPartition("streaming-pinterest-geo", 1)
A0, A1 = app_id(TP0), app_id(TP1)
SEQ = 49590338271490256608559692538361571095921575989136588898


def rows(*inds: int) -> pa.Table:
    return pa.table({"ind": list(inds), "country": ["Albania"] * len(inds)}, schema=SCHEMA)


def test_commit_stores_one_transaction_per_partition_with_the_rows(tmp_path: Path) -> None:
    sink = DeltaSink(str(tmp_path / "t"), SCHEMA, DenseCodec())
    sink.commit(rows(1, 2, 3), {A0: (0, 4), A1: (0, 2)})
    table = DeltaTable(str(tmp_path / "t"))
    assert table.transaction_version(app_id(TP0)) == 4
    assert table.transaction_version(app_id(TP1)) == 2
    assert sorted(table.to_pyarrow_table()["ind"].to_pylist()) == [1, 2, 3]
    assert sink.keys == {1, 2, 3}


def test_a_new_sink_reads_positions_and_keys_back_from_the_table(tmp_path: Path) -> None:
    DeltaSink(str(tmp_path / "t"), SCHEMA, DenseCodec()).commit(rows(5, 6), {A0: (0, 1)})
    again = DeltaSink(str(tmp_path / "t"), SCHEMA, DenseCodec())
    assert again.stored(A0) == Stored(1, 1)
    assert again.stored(A1) is None
    assert again.keys == {5, 6}


def test_stale_batch_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    sink = DeltaSink(str(tmp_path / "t"), SCHEMA, DenseCodec())
    sink.stored(A0)
    sink.commit(rows(1), {A0: (0, 9)})
    version = sink.version()
    with pytest.raises(StaleBatchError, match="already holds up to 9"):
        sink.commit(rows(2), {A0: (9, 12)})
    assert sink.version() == version
    assert DeltaTable(str(tmp_path / "t")).transaction_version(app_id(TP0)) == 9


def test_a_second_writer_on_the_same_partition_is_refused(tmp_path: Path) -> None:
    """A zombie job (its handle predates the other's commit) must not write over the other's position."""
    uri = str(tmp_path / "t")
    first = DeltaSink(uri, SCHEMA, DenseCodec())
    first.stored(A0)
    second = DeltaSink(uri, SCHEMA, DenseCodec())
    second.stored(A0)
    second.commit(rows(1), {A0: (0, 5)})
    with pytest.raises(StaleBatchError):
        first.commit(rows(2), {A0: (0, 3)})
    table = DeltaTable(uri)
    assert table.transaction_version(app_id(TP0)) == 5
    assert table.to_pyarrow_table()["ind"].to_pylist() == [1]


def test_empty_commit_still_moves_the_position(tmp_path: Path) -> None:
    """A batch of duplicates only writes no row, but its records are consumed all the same."""
    sink = DeltaSink(str(tmp_path / "t"), SCHEMA, DenseCodec())
    sink.commit(rows(), {A0: (0, 7)})
    assert DeltaTable(str(tmp_path / "t")).transaction_version(app_id(TP0)) == 7


def test_kinesis_sequence_numbers_round_trip_through_the_table(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    sink = DeltaSink(uri, SCHEMA, SequenceCodec())
    sink.stored(A0)
    sink.commit(rows(1), {A0: (SEQ - 10, SEQ)})
    sink.commit(rows(2), {A0: (SEQ + 3, SEQ + 900)})
    reopened = DeltaSink(uri, SCHEMA, SequenceCodec())
    assert reopened.stored(A0) == Stored(offset=SEQ + 900, version=1)
    with pytest.raises(StaleBatchError):
        reopened.commit(rows(3), {A0: (SEQ + 900, SEQ + 901)})


def test_upkeep_compacts_and_keeps_positions(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    sink = DeltaSink(uri, SCHEMA, DenseCodec(), upkeep=Upkeep(checkpoint_every=3, compact_every=5))
    sink.stored(A0)
    for i in range(12):
        sink.commit(rows(i), {A0: (i, i)})
    table = DeltaTable(uri)
    assert len(table.file_uris()) < 12
    assert table.transaction_version(app_id(TP0)) == 11
    assert sorted(table.to_pyarrow_table()["ind"].to_pylist()) == list(range(12))
    assert any(p.name.endswith(".checkpoint.parquet") for p in (tmp_path / "t" / "_delta_log").iterdir())
