"""Embedded log → lake on S3 (moto): the same names and bytes as a local lake, one PUT per file."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pinpipe.lake.format import decode, encode
from pinpipe.lake.layout import Partitioner, object_key
from pinpipe.lake.s3 import S3Lake
from pinpipe.lake.store import open_lake, sink_files
from pinpipe.log import TopicPartition, open_log
from pinpipe.settings import Settings
from pinpipe.sink import LakeSink, SinkConfig
from tests.sink.helpers import assert_exactly_once, fill, snapshot

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]


@pytest.fixture
def bucket(aws_env: str) -> str:
    import boto3

    name = f"pinpipe-lake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def test_s3_store_writes_reads_and_lists_only_sink_files(bucket: str) -> None:
    store = open_lake(f"s3://{bucket}/raw")
    assert isinstance(store, S3Lake)
    key = object_key("t", 0, 0, partitioner=Partitioner.DEFAULT)
    store.write({key: b"{}\n", "topics/t/partition=0/notes.txt": b"x"})
    assert store.read(key) == b"{}\n" and store.read("topics/t/partition=0/none.json") is None
    assert [f.key for f in sink_files(store)] == [key]
    import boto3

    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="raw/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(["raw/" + key, "raw/topics/t/partition=0/notes.txt"])


def test_embedded_log_to_s3_exactly_once_and_identical_to_local(home: Path, bucket: str) -> None:
    log = open_log(f"sqlite:///{home / 'log.db'}", Settings(home=home))
    try:
        expected = fill(log, "pinterest.pin", 2, 1250)
        expected.update(fill(log, "pinterest.geo", 1, 40))
        s3 = open_lake(f"s3://{bucket}/lake")
        config = SinkConfig(flush_size=500)
        stats = LakeSink(log, s3, ["pinterest.pin", "pinterest.geo"], config).run(until_idle=True)
        assert stats.records == 2540 and stats.files == 7
        assert_exactly_once(s3, expected)
        # the same log into a local lake (another group) gives the same keys and bytes
        local = open_lake(str(home / "local-lake"))
        again = SinkConfig(flush_size=500, group="compare")
        LakeSink(log, local, ["pinterest.pin", "pinterest.geo"], again).run(until_idle=True)
        assert snapshot(s3) == snapshot(local)
        first = s3.read(sink_files(s3, "pinterest.geo")[0].key)
        assert first is not None and decode(first, compressed=False) == expected[TopicPartition("pinterest.geo", 0)]
    finally:
        log.close()


def test_sink_command_on_s3_replays_a_crashed_file_identically(home: Path, bucket: str) -> None:
    """Through the CLI, endpoint from AWS_ENDPOINT_URL as boto3 resolves it: a file left by a
    stopped run (written, not committed) is rewritten with the same bytes."""
    log = open_log(f"sqlite:///{home / 'log.db'}", Settings(home=home))
    try:
        tp = TopicPartition("pinterest.user", 0)
        values = fill(log, "pinterest.user", 1, 300)[tp]
        peek = log.consumer("peek", ["pinterest.user"])
        ts = peek.poll(1, 5)[0].timestamp_ms
        peek.close()
    finally:
        log.close()
    s3 = open_lake(f"s3://{bucket}/lake")
    left = object_key("pinterest.user", 0, 0, partitioner=Partitioner.DAILY, timestamp_ms=ts)
    s3.write({left: encode(values[:120])})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    env.update(PINPIPE_HOME=str(home), PINPIPE_LAKE_URL=f"s3://{bucket}/lake")
    done = subprocess.run(
        [sys.executable, "-m", "pinpipe.sink", "run", "--until-idle", "--topics", "pinpipe.none,pinterest.user"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"drained: 300 records in 2 files" in done.stdout
    assert b"sink recovered: pinterest.user[0] file at 0 (120 records)" in done.stderr
    assert s3.read(left) == encode(values[:120])
    assert_exactly_once(s3, {tp: values})
