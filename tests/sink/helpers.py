"""What the sink tests share: filling a log with known values, and reading the lake back by offset."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from pinpipe.lake.format import decode
from pinpipe.lake.layout import parse_key
from pinpipe.lake.store import LakeStore, sink_files
from pinpipe.log import EventLog, OutRecord, TopicPartition

Expected = dict[TopicPartition, list[bytes]]


def value(topic: str, partition: int, seq: int) -> bytes:
    """A pin-like row whose content names its place, so a misplaced record cannot pass for another."""
    return (
        b'{"index":%d,"topic":"%s","partition":%d,"title":"caf\xc3\xa9 \xf0\x9f\x93\x8c",'
        b'"description":"No description available Story format","category":"travel"}'
    ) % (seq, topic.encode(), partition)


def fill(log: EventLog, topic: str, partitions: int, per_partition: int, batch: int = 5000) -> Expected:
    """Append ``per_partition`` records to each partition of ``topic`` (created if missing)."""
    if topic not in log.topics():
        log.create_topic(topic, partitions)
    expected: Expected = {}
    for p in range(partitions):
        tp = TopicPartition(topic, p)
        have = log.end_offsets(topic)[p]
        values = [value(topic, p, have + i) for i in range(per_partition)]
        for i in range(0, len(values), batch):
            log.append(topic, [OutRecord(v, partition=p) for v in values[i : i + batch]])
        expected[tp] = values
    return expected


def merge(*parts: Expected) -> Expected:
    out: Expected = {}
    for part in parts:
        for tp, values in part.items():
            out.setdefault(tp, []).extend(values)
    return out


def lake_records(store: LakeStore) -> dict[TopicPartition, dict[int, bytes]]:
    """Every record in the lake by (partition, offset); fails if any offset is in two files. A blank
    line claims its offset (one that holds no record, a Kafka transaction's marker) but is no record."""
    found: dict[TopicPartition, dict[int, bytes]] = {}
    claimed: dict[TopicPartition, set[int]] = {}
    for f in sink_files(store):
        data = store.read(f.key)
        assert data is not None, f.key
        lines = decode(data, compressed=f.info.compressed)
        assert any(lines), f"a lake file without records {f.key}"
        tp = TopicPartition(f.info.topic, f.info.partition)
        seen, taken = found.setdefault(tp, {}), claimed.setdefault(tp, set())
        for i, line in enumerate(lines):
            offset = f.info.start_offset + i
            assert offset not in taken, f"offset {offset} of {f.info.topic}[{f.info.partition}] twice ({f.key})"
            taken.add(offset)
            if line:
                seen[offset] = line
    return found


def assert_exactly_once(
    store: LakeStore, expected: Mapping[TopicPartition, list[bytes]] | Mapping[TopicPartition, dict[int, bytes]]
) -> None:
    """Offset-set equality per partition, values included: no gap, no duplicate, nothing else. Values
    are a list where offsets are dense from 0, else by offset (Kafka with transactions)."""
    assert_no_temps(store)
    found = lake_records(store)
    assert set(found) == {tp for tp, v in expected.items() if v}
    for tp, values in expected.items():
        if not values:
            continue
        got = found[tp]
        by_offset = values if isinstance(values, dict) else dict(enumerate(values))
        assert sorted(got) == sorted(by_offset), f"{tp}: offsets differ"
        assert got == by_offset, f"{tp}: values differ"


def assert_no_temps(store: LakeStore) -> None:
    """A reader listing the lake sees only sink files."""
    stray = [k for k in store.list_keys() if parse_key(k) is None]
    assert stray == [], stray


def snapshot(store: LakeStore) -> dict[str, bytes]:
    out = {}
    for key in store.list_keys():
        data = store.read(key)
        assert data is not None
        out[key] = data
    return out


def set_timestamps(log_db: Path, topic: str, partition: int, stamps: list[int]) -> None:
    """Give the first records of a partition these log timestamps (UTC ms).

    The embedded log stamps records with the wall clock at append; to test what the sink does with
    records of several days, rewrite the stored stamps as if they had been appended then.
    """
    with sqlite3.connect(log_db) as conn:
        (pid,) = conn.execute(
            "SELECT p.id FROM partitions p JOIN topics t ON t.id = p.topic_id WHERE t.name = ? AND p.partition = ?",
            (topic, partition),
        ).fetchone()
        conn.executemany(
            "UPDATE records SET ts = ? WHERE pid = ? AND offset = ?",
            [(ts, pid, offset) for offset, ts in enumerate(stamps)],
        )


def lake_files(lake_dir: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(lake_dir / "topics"))
