"""Kafka (Apache Kafka) → lake: record timestamps pick the day folders; two sink workers on a 4-partition
topic share it through the consumer group, and every offset lands exactly once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinpipe.lake.store import open_lake, sink_files
from pinpipe.log import EventLog, OutRecord, TopicPartition, open_log
from pinpipe.settings import get_settings
from pinpipe.sink import LakeSink, SinkConfig
from pinpipe.sink.buffer import DAY_MS
from tests.services import wait_until
from tests.sink.helpers import assert_exactly_once, lake_records, value
from tests.support.kafka import KafkaCluster

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(240)]

DAY0 = 1_600_000_000_000 - 1_600_000_000_000 % DAY_MS  # 2020-09-13T00:00Z


@pytest.fixture
def kafka_log(home: Path, kafka: KafkaCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[EventLog]:
    monkeypatch.setenv("PINPIPE_LOG_URL", kafka.url)
    settings = get_settings()
    log = open_log(kafka.url, settings)
    yield log
    log.close()


def test_kafka_to_lake_with_record_time_days(kafka_log: EventLog, kafka: KafkaCluster, home: Path) -> None:
    from confluent_kafka import Producer

    topic = f"sink-days-{uuid.uuid4().hex[:6]}"
    kafka_log.create_topic(topic, 1)
    stamps = [DAY0 + DAY_MS - 2, DAY0 + DAY_MS - 1] + [DAY0 + DAY_MS + i for i in range(5)]
    values = [value(topic, 0, i) for i in range(len(stamps))]
    producer = Producer({"bootstrap.servers": kafka.url.removeprefix("kafka://"), "enable.idempotence": True})
    for v, ts in zip(values, stamps, strict=True):
        producer.produce(topic, v, partition=0, timestamp=ts)
    assert producer.flush(30) == 0
    lake = open_lake(str(home / "lake"))
    config = SinkConfig(flush_size=3, group=f"g-{topic}")
    stats = LakeSink(kafka_log, lake, [topic], config).run(until_idle=True)
    assert stats.drained and stats.records == 7
    assert [f.key for f in sink_files(lake)] == [
        f"topics/{topic}/year=2020/month=09/day=13/{topic}+0+0000000000.json",
        f"topics/{topic}/year=2020/month=09/day=14/{topic}+0+0000000002.json",
        f"topics/{topic}/year=2020/month=09/day=14/{topic}+0+0000000005.json",
    ]
    assert_exactly_once(lake, {TopicPartition(topic, 0): values})


def _assigned(err_file: Path) -> set[int]:
    """The partitions a worker said it owns in its latest 'sink assigned:' line."""
    lines = [ln for ln in err_file.read_text(errors="replace").splitlines() if ln.startswith("sink assigned:")]
    if not lines:
        return set()
    return {int(p) for group in re.findall(r"\[([\d,]+)\]", lines[-1]) for p in group.split(",")}


def test_two_workers_share_a_4_partition_topic_exactly_once(
    kafka_log: EventLog, kafka: KafkaCluster, home: Path
) -> None:
    topic = f"sink-scale-{uuid.uuid4().hex[:6]}"
    kafka_log.create_topic(topic, 4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    env.update(PINPIPE_HOME=str(home), PINPIPE_LOG_URL=kafka.url)  # librdkafka's defaults
    args = [sys.executable, "-m", "pinpipe.sink", "run", "--topics", topic, "--flush-size", "100"]
    errs = [home.parent / f"worker-{i}.err" for i in range(2)]
    workers = [
        subprocess.Popen([*args, "--idle-flush-ms", "300"], env=env, stdout=subprocess.PIPE, stderr=open(e, "wb"))  # noqa: SIM115
        for e in errs
    ]
    try:
        # Both members in the group, the four partitions split between them, before any record.
        def shared() -> bool:
            a, b = (_assigned(e) for e in errs)
            return bool(a) and bool(b) and not (a & b) and a | b == {0, 1, 2, 3}

        wait_until(shared, timeout=90, what="two workers sharing 4 partitions")
        expected: dict[TopicPartition, dict[int, bytes]] = {}
        for p in range(4):
            tp = TopicPartition(topic, p)
            values = [value(topic, p, i) for i in range(1050 + 37 * p)]
            at = expected[tp] = {}
            for i in range(0, len(values), 500):
                batch = values[i : i + 500]
                appended = kafka_log.append(topic, [OutRecord(v, partition=p) for v in batch])
                # one transaction per append: its records in a row, then its marker's offset
                offsets = [a.offset for a in appended]
                assert offsets == list(range(offsets[0], offsets[0] + len(batch)))
                at.update(zip(offsets, batch, strict=True))
        lake = open_lake(str(home / "lake"))
        total = sum(len(v) for v in expected.values())
        wait_until(
            lambda: sum(len(r) for r in lake_records(lake).values()) >= total, timeout=120, what="all in the lake"
        )
    finally:
        # Both stop at once, as a deployment's workers do (Tansu 0.6.0 lost the group that way;
        # Apache Kafka re-forms it, and the next test's members join it at once).
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outs = [worker.communicate(timeout=60)[0].decode() for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], [e.read_text() for e in errs]
    written = [int(re.search(r"stopped: ([\d,]+) records", out)[1].replace(",", "")) for out in outs]
    assert all(n > 0 for n in written), written  # both workers wrote their share
    assert_exactly_once(lake, expected)
