"""What the gateway acknowledged and what the log holds: the checks every exactly-once test makes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from pinpipe.emulate import Ack, OutRow, Stats
from pinpipe.log import Record, TopicPartition, open_log
from pinpipe.settings import Settings

READ_DEADLINE_S = 90.0


def ind_of(value: bytes) -> int:
    row = orjson.loads(value)
    return int(row["index"] if "index" in row else row["ind"])


def read_all(log_url: str, settings: Settings, topics: Sequence[str], expected: int) -> list[Record]:
    """Every record of ``topics``: at least ``expected``, then until a poll finds nothing more."""
    log = open_log(log_url, settings)
    consumer = log.consumer(f"check-{uuid.uuid4().hex[:8]}", list(topics))
    records: list[Record] = []
    deadline = time.monotonic() + READ_DEADLINE_S
    try:
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"read {len(records)} of at least {expected} records before the deadline")
            got = consumer.poll(max_records=5000, timeout_s=1.0)
            records.extend(got)
            if not got and len(records) >= expected:
                return records
    finally:
        consumer.close()
        log.close()


def position(ack: Ack) -> tuple[int, int]:
    """The gateway's answer as a log position: ``shardId-000000000002`` is partition 2."""
    partition = ack.partition if isinstance(ack.partition, int) else int(str(ack.partition).rsplit("-", 1)[-1])
    return partition, int(ack.offset)


@dataclass
class AckLog:
    """Records every acknowledgement: (topic, partition, offset) → ind."""

    acked: dict[tuple[str, int, int], int] = field(default_factory=dict)
    duplicates: int = 0

    def __call__(self, destination: str, acked: Sequence[tuple[OutRow, Ack]], stats: Stats) -> None:
        for row, ack in acked:
            key = (destination, *position(ack))
            self.duplicates += key in self.acked
            self.acked[key] = row.ind


def by_position(records: Sequence[Record]) -> dict[TopicPartition, dict[int, bytes]]:
    """Records as the lake holds them (``tests.sink.helpers.lake_records``): value by offset, per partition."""
    out: dict[TopicPartition, dict[int, bytes]] = {}
    for r in records:
        out.setdefault(r.tp, {})[r.offset] = r.value
    return out
