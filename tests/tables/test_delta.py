"""merge_on_ind: append what cannot be in the table yet, merge only what may be; one row per ind always."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, WriterProperties, write_deltalake

from pinpipe.clean.schema import CLEAN_SCHEMAS
from pinpipe.tables import merge_on_ind, read_table
from pinpipe.tables.delta import storage_options

SCHEMA = CLEAN_SCHEMAS["user"]


def users(inds: list[int], age: int) -> pa.Table:
    n = len(inds)
    return pa.table(
        {"ind": inds, "user_name": [f"user {i}" for i in inds], "age": [age] * n, "date_joined": [None] * n},
        schema=SCHEMA,
    )


def operations(uri: str) -> list[str]:
    """The table's commits, oldest first."""
    return [entry["operation"] for entry in reversed(DeltaTable(uri).history())]


def ages(uri: str) -> dict[int, int]:
    table = read_table(uri)
    assert table is not None
    rows = table.to_pylist()
    assert len(rows) == len({r["ind"] for r in rows}), "one row per ind"
    return {r["ind"]: r["age"] for r in rows}


def test_first_run_appends_without_a_merge(tmp_path: Path) -> None:
    uri = str(tmp_path / "user")
    merge_on_ind(uri, users([3, 1, 2], age=20), SCHEMA)
    assert operations(uri) == ["WRITE"]
    assert ages(uri) == {1: 20, 2: 20, 3: 20}


def test_later_rows_above_the_largest_ind_are_appended_the_rest_merged(tmp_path: Path) -> None:
    uri = str(tmp_path / "user")
    merge_on_ind(uri, users([1, 2, 3], age=20), SCHEMA)
    reader = pa.RecordBatchReader.from_batches(
        SCHEMA, [*users([2, 7], age=30).to_batches(), *users([8, 3], age=30).to_batches()]
    )
    merge_on_ind(uri, reader, SCHEMA)
    assert operations(uri) == ["WRITE", "WRITE", "MERGE"]
    assert ages(uri) == {1: 20, 2: 30, 3: 30, 7: 30, 8: 30}


def test_a_rerun_only_merges_and_changes_nothing(tmp_path: Path) -> None:
    uri = str(tmp_path / "user")
    merge_on_ind(uri, users([1, 2, 3], age=20), SCHEMA)
    merge_on_ind(uri, users([1, 2, 3], age=20), SCHEMA)
    assert operations(uri) == ["WRITE", "MERGE"]
    assert ages(uri) == {1: 20, 2: 20, 3: 20}


def test_an_empty_table_is_appended_to(tmp_path: Path) -> None:
    uri = str(tmp_path / "user")
    merge_on_ind(uri, SCHEMA.empty_table(), SCHEMA)
    merge_on_ind(uri, users([5], age=40), SCHEMA)
    assert operations(uri)[-1] == "WRITE"
    assert ages(uri) == {5: 40}


def test_files_without_statistics_fall_back_to_a_merge(tmp_path: Path) -> None:
    from deltalake import ColumnProperties

    uri = str(tmp_path / "user")
    no_stats = WriterProperties(default_column_properties=ColumnProperties(statistics_enabled="NONE"))
    write_deltalake(uri, users([1, 9], age=20), writer_properties=no_stats)
    merge_on_ind(uri, users([9, 10], age=30), SCHEMA)
    assert operations(uri) == ["WRITE", "MERGE"]
    assert ages(uri) == {1: 20, 9: 30, 10: 30}


def test_an_http_endpoint_is_allowed_without_an_object_store_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """What boto3 and s3fs take as they are (AWS_ENDPOINT_URL=http://…) is enough for delta-rs too."""
    for name in ("AWS_ALLOW_HTTP", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    # Nothing listens there: only the translation is under test (the bucket check has tests/integration/
    # test_s3_errors.py, on moto).
    monkeypatch.setattr("pinpipe.tables.delta.require_bucket", lambda uri: None)
    options = storage_options("s3://bucket/warehouse/batch/pin")
    assert options is not None
    assert options["AWS_ALLOW_HTTP"] == "true"
    assert options["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert options["AWS_REGION"] == "eu-west-1"  # boto3's region, from AWS_DEFAULT_REGION
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://s3.example.com")
    assert "AWS_ALLOW_HTTP" not in (storage_options("s3://bucket/t") or {})
    assert storage_options("/a/local/table") is None


def _dead_letters(offsets: list[int], *, position: bool) -> pa.Table:
    from datetime import UTC, datetime

    from pinpipe.clean.inprocess import dead_letter_table

    n = len(offsets)
    records = pa.table(
        {
            "topic": ["t.pin"] * n,
            "partition": pa.array([0] * n, pa.int64()),
            "offset": pa.array(offsets, pa.int64()),
            "value": [f"bad {o}" for o in offsets],
            "reason": ["not a JSON object"] * n,
        }
    )
    table = dead_letter_table(records, "batch", datetime(2026, 1, 1, tzinfo=UTC))
    return table if position else table.drop_columns(["position"])


def test_a_dead_letter_table_written_before_position_existed_gets_it(tmp_path: Path) -> None:
    """An older warehouse's dead_letter (no ``position``) is extended in place: the column is added and
    filled from each row's offset, so a rerun of an old day adds no row twice (the key is the position)."""
    from pinpipe.tables import add_dead_letters

    uri = str(tmp_path / "dead_letter")
    write_deltalake(uri, _dead_letters([1, 2], position=False))
    assert "position" not in [f.name for f in DeltaTable(uri).schema().fields]

    add_dead_letters(uri, _dead_letters([2, 3], position=True))  # 2 was there already
    rows = sorted((r["offset"], r["position"]) for r in DeltaTable(uri).to_pyarrow_table().to_pylist())
    assert rows == [(1, "1"), (2, "2"), (3, "3")]
