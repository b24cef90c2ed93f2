"""The README's seed-project layout end to end, by configuration alone.

``pinpipe.toml`` holds exactly the README's four lines (topics on Apache Kafka, streams on Kinesis, lake
and warehouse on S3 — moto here), with only the broker address and the bucket name filled in; the AWS
environment is set as for the AWS CLI; no other setting. Events go through the gateway (with its stream
job), the sink drains the topics to the S3 lake, the batch writes its tables and insights to the S3
warehouse, and ``/api/status`` counts every topic and stream with its lag.
"""

from __future__ import annotations

import re
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pinpipe.insights import INSIGHTS
from pinpipe.lake.store import open_lake
from pinpipe.log import Record, open_log
from pinpipe.settings import TABLES, Settings, get_settings
from pinpipe.tables import batch_table, insight_table, read_table, warehouse_table
from tests import services
from tests.integration.stream_flow import log_records, pinpipe, row_ind
from tests.sink.helpers import lake_records
from tests.support import kafka as kafka_support
from tests.support.acks import by_position, read_all
from tests.support.gateway import Gateway

pytestmark = [pytest.mark.services, pytest.mark.timeout(420)]

README = Path(__file__).resolve().parents[2] / "README.md"
STATUS_TIMEOUT_S = 120.0


def readme_layout() -> str:
    found = re.search(
        r"The seed project's layout in one `pinpipe.toml`:\n\n```toml\n(.*?)```", README.read_text(), re.S
    )
    assert found, "the README's seed-layout pinpipe.toml block"
    return found.group(1)


@pytest.fixture
def seed_layout(home: Path, tmp_path: Path, aws_env: str) -> Iterator[Settings]:
    """The README's pinpipe.toml in the working directory, on a broker of this test's own (the default
    topic names must be empty) and a new bucket; the default stream names removed from the session's moto."""
    import boto3

    layout = readme_layout()
    assert set(tomllib.loads(layout)) == {"log_url", "stream_log_url", "lake_url", "warehouse_url"}
    cluster = kafka_support.start_cluster(tmp_path / "kafka", size=1)
    bucket = f"seed-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    kinesis = boto3.client("kinesis")
    for kind in TABLES:
        name = f"streaming-pinterest-{kind}"
        if name in kinesis.list_streams()["StreamNames"]:
            kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    text = layout.replace("kafka://broker:9092", cluster.url).replace("s3://bucket/", f"s3://{bucket}/")
    assert text.count(bucket) == 2 and cluster.url in text
    (tmp_path / "pinpipe.toml").write_text(text)
    try:
        yield get_settings()
    finally:
        cluster.stop_all()


def inds(kind: str, records: list[Record]) -> set[int]:
    return {i for i in (row_ind(kind, r) for r in records) if i is not None}


def table_inds(uri: str) -> list[int]:
    table = read_table(uri, columns=["ind"])
    assert table is not None, uri
    return table.column("ind").to_pylist()


def test_the_readmes_seed_layout_end_to_end(seed_layout: Settings, home: Path, tmp_path: Path) -> None:
    settings = seed_layout
    assert settings.log_url and settings.log_url.startswith("kafka://")
    assert settings.stream_log_url == "kinesis://us-east-1" and settings.lake_url and settings.warehouse_url
    pinpipe("source", "init", "--rows", "300", "--seed", "7")
    gateway = Gateway(home, args=["--with-stream"], log_path=tmp_path / "gateway.log").start()
    try:
        pinpipe("emulate", "batch", "--events", "200", "--seed", "1", "--api", gateway.url)
        pinpipe("emulate", "stream", "--events", "200", "--seed", "2", "--api", gateway.url)

        # Topics → S3 lake: every record of every topic, at its offset, once.
        topics = {kind: read_all(settings.log_url, settings, [settings.topic(kind)], 200) for kind in TABLES}
        assert all(len(records) >= 200 for records in topics.values())
        pinpipe("sink", "run", "--until-idle")
        lake = lake_records(open_lake(settings.lake_url, read_only=True))
        expected = {tp: values for kind in TABLES for tp, values in by_position(topics[kind]).items()}
        assert lake == expected

        # Streams (Kinesis) → the gateway's stream job → S3 warehouse, and its counts on /api/status.
        streams = log_records(settings)
        status = wait_for_status(gateway.url, lambda s: streams_caught_up(s, settings, streams))
        for kind in TABLES:
            got = table_inds(warehouse_table(settings, "stream", kind))
            assert len(got) == len(set(got)) and set(got) == inds(kind, streams[kind]), kind

        # The batch over the S3 lake into the S3 warehouse.
        pinpipe("batch", "run", "--all")
        for kind in TABLES:
            got = table_inds(batch_table(settings, kind))
            assert len(got) == len(set(got)) and set(got) == inds(kind, topics[kind]), kind
        written = {name: read_table(insight_table(settings, name)) for name in INSIGHTS}
        assert all(table is not None and table.num_rows > 0 for table in written.values()), written
        shown = pinpipe("insights", "show", "top_category_by_country", "--limit", "0")
        assert "top_category_by_country" in shown.stdout and "showing" not in shown.stdout  # all rows, none cut

        status = wait_for_status(gateway.url, lambda s: s["batch"] is not None and s["sink_lag"] == 0)
        with open_log(settings.log_url, settings) as log:
            ends = {kind: sum(log.end_offsets(settings.topic(kind)).values()) for kind in TABLES}
        for entry, kind in zip(status["topics"], TABLES, strict=True):
            # Kafka's offsets: the records, and one marker per transaction (a request, or several at once)
            assert entry["name"] == settings.topic(kind) and entry["counted"] == "offsets"
            assert entry["records"] == ends[kind] >= len(topics[kind]) and entry["lag"] == 0
        assert status["batch"]["rows"] == {kind: len(inds(kind, topics[kind])) for kind in TABLES}
        assert status["records_total"] == sum(ends.values()) + sum(map(len, streams.values()))
        insights = httpx.get(f"{gateway.url}/api/insights", timeout=30).json()
        assert {c["name"] for c in insights["charts"]} >= set(INSIGHTS)
    finally:
        gateway.stop()


def streams_caught_up(status: dict[str, Any], settings: Settings, streams: dict[str, list[Record]]) -> bool:
    """Every stream counted as committed by the stream job, none behind, each table at its distinct inds."""
    entries = {e["name"]: e for e in status["streams"]}
    for kind in TABLES:
        entry = entries[settings.stream(kind)]
        assert entry["counted"] == "committed"
        if entry["records"] != len(streams[kind]) or entry["lag"] != 0:
            return False
        if entry["table_rows"] != len(inds(kind, streams[kind])):
            return False
    job = status["stream_job"]
    return bool(job and job["running"] and job["records"] >= sum(map(len, streams.values())))


def wait_for_status(url: str, check: Any) -> dict[str, Any]:
    """``/api/status`` once ``check`` holds for it (bounded); the last answer in the failure otherwise."""
    last: dict[str, Any] = {}

    def ready() -> bool:
        nonlocal last
        last = httpx.get(f"{url}/api/status", timeout=30).json()
        return bool(check(last))

    try:
        services.wait_until(ready, timeout=STATUS_TIMEOUT_S, what="/api/status", interval=0.5)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: last status {last}") from None
    return last
