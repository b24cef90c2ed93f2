"""The batch job with the lake and the warehouse on S3 (moto), credentials from the AWS environment.

moto runs in its own process here, not as the in-process ``moto_server`` fixture: deltalake holds the
GIL while it waits on S3, so a moto thread in the same interpreter can never answer it (measured:
every Delta call then times out after 180 s).
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinpipe.batch import run_batch
from pinpipe.settings import get_settings
from pinpipe.tables import batch_table, dead_letter_table_uri, insight_table, read_table
from tests import services
from tests.batch.lakegen import write_random_lake

pytestmark = pytest.mark.services


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def moto_process() -> Iterator[str]:
    """A moto server in a child process; yields its endpoint URL."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        services.unavailable("moto server", "pip install 'moto[server]'")
    port = services.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        services.wait_until(lambda: _answers(url), timeout=30, what="moto server")
        yield url
    finally:
        services.stop(proc)


@pytest.fixture
def aws_process_env(moto_process: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The AWS environment of conftest's ``aws_env``, pointed at the moto child process."""
    for key, value in {
        "AWS_ENDPOINT_URL": moto_process,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(key, value)
    return moto_process


def test_batch_reads_an_s3_lake_and_writes_an_s3_warehouse(
    home: Path, aws_process_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_process_env)
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
