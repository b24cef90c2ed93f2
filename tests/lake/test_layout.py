"""Object names are the Kafka Connect S3 sink's, so tools written for it read our lake."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pinpipe.errors import ValidationError
from pinpipe.lake.layout import Compression, Partitioner, object_key, parse_key, record_day

TS_2020_08_28 = int(datetime(2020, 8, 28, 3, 52, 47, tzinfo=UTC).timestamp() * 1000)


def test_daily_key_is_the_time_based_partitioners() -> None:
    key = object_key("pinterest.pin", 0, 7528, partitioner=Partitioner.DAILY, timestamp_ms=TS_2020_08_28)
    assert key == "topics/pinterest.pin/year=2020/month=08/day=28/pinterest.pin+0+0000007528.json"


def test_default_key_is_the_default_partitioners() -> None:
    key = object_key("pinterest.geo", 3, 1000, partitioner=Partitioner.DEFAULT)
    assert key == "topics/pinterest.geo/partition=3/pinterest.geo+3+0000001000.json"


def test_gzip_keys_end_in_json_gz() -> None:
    key = object_key("t", 1, 0, partitioner=Partitioner.DEFAULT, compression=Compression.GZIP)
    assert key == "topics/t/partition=1/t+1+0000000000.json.gz"


def test_offsets_beyond_ten_digits_keep_every_digit() -> None:
    key = object_key("t", 0, 12_345_678_901, partitioner=Partitioner.DEFAULT)
    assert key.endswith("/t+0+12345678901.json")
    info = parse_key(key)
    assert info is not None and info.start_offset == 12_345_678_901


def test_the_day_is_the_records_utc_day_never_the_clock() -> None:
    midnight = int(datetime(2021, 12, 31, tzinfo=UTC).timestamp() * 1000)
    assert record_day(midnight - 1) == date(2021, 12, 30)
    assert record_day(midnight) == date(2021, 12, 31)
    key = object_key("t", 0, 5, partitioner=Partitioner.DAILY, timestamp_ms=midnight - 1)
    assert "/year=2021/month=12/day=30/" in key


def test_daily_needs_a_timestamp() -> None:
    with pytest.raises(ValidationError):
        object_key("t", 0, 0, partitioner=Partitioner.DAILY)


@pytest.mark.parametrize("partitioner", list(Partitioner))
@pytest.mark.parametrize("compression", list(Compression))
def test_parse_key_reads_back_both_layouts(partitioner: Partitioner, compression: Compression) -> None:
    key = object_key(
        "pinterest.user", 2, 4000, partitioner=partitioner, timestamp_ms=TS_2020_08_28, compression=compression
    )
    info = parse_key(key)
    assert info is not None
    assert (info.topic, info.partition, info.start_offset) == ("pinterest.user", 2, 4000)
    assert info.compressed == (compression is Compression.GZIP)
    assert info.day == (date(2020, 8, 28) if partitioner is Partitioner.DAILY else None)
    assert parse_key("s3://bucket/prefix/" + key) == info  # a full URL too


@pytest.mark.parametrize(
    "key",
    [
        ".pinpipe-tmp/host-123-4.tmp",  # the local store's temps
        "topics/t/partition=0/t+0+0000000000.json.tmp",
        "topics/t/partition=0/.t+0+0000000000.json",
        "topics/t/partition=0/u+0+0000000000.json",  # another topic's name in t's folder
        "topics/t/partition=1/t+0+0000000000.json",  # partition folder and name disagree
        "topics/t/partition=0/t+0+12.json",  # fewer than 10 digits
        "topics/t/t+0+0000000000.json",
    ],
)
def test_parse_key_rejects_what_is_not_a_sink_file(key: str) -> None:
    assert parse_key(key) is None


@pytest.mark.parametrize("topic", ["../etc", "a/b", "", "x" * 250])
def test_topics_that_would_escape_the_lake_are_refused(topic: str) -> None:
    with pytest.raises(ValidationError):
        object_key(topic, 0, 0, partitioner=Partitioner.DEFAULT)
