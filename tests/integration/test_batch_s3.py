"""The batch job with the lake and the warehouse on S3 (moto), credentials from the AWS environment.

moto runs in its own process (the ``moto_server`` fixture): deltalake holds the GIL while it waits on S3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pinpipe.batch import run_batch
from pinpipe.settings import get_settings
from pinpipe.tables import batch_table, dead_letter_table_uri, insight_table, read_table
from tests.batch.lakegen import write_random_lake

pytestmark = pytest.mark.services


def test_batch_reads_an_s3_lake_and_writes_an_s3_warehouse(
    home: Path, aws_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_env)
    s3.create_bucket(Bucket="pinpipe-batch")
    local = tmp_path / "staging"
    write_random_lake(local, "pinterest", 120)
    for path in local.rglob("*.json*"):
        s3.upload_file(str(path), "pinpipe-batch", "lake/" + path.relative_to(local).as_posix())
    monkeypatch.setenv("PINPIPE_LAKE_URL", "s3://pinpipe-batch/lake")
    monkeypatch.setenv("PINPIPE_WAREHOUSE_URL", "s3://pinpipe-batch/warehouse")
    settings = get_settings()

    summary = run_batch(settings, None, "duckdb", progress=lambda _: None)
    assert summary.rows_written["pin"] == 120
    assert summary.files_read["pin"] > 1
    pins = read_table(batch_table(settings, "pin"))
    assert pins is not None and pins.num_rows == 120
    assert batch_table(settings, "pin") == "s3://pinpipe-batch/warehouse/batch/pin"
    dead = read_table(dead_letter_table_uri(settings))
    assert dead is not None and dead.num_rows == summary.dead_letters > 0
    top = read_table(insight_table(settings, "top_category_by_country"))
    assert top is not None and top.num_rows > 0
    listed = s3.list_objects_v2(Bucket="pinpipe-batch", Prefix="warehouse/insights/")
    assert listed["KeyCount"] > 0
