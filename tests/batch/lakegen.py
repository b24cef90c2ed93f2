"""Raw lakes for tests, written file by file with the lake's own naming (``object_key``).

Events are generated to exercise every cleaning rule and insight edge: each placeholder class, null
and unreadable follower counts, both timestamp formats, ties in counts and follower counts, ages and
years outside every group, replays, and misfit records.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pinpipe.lake.layout import Compression, Partitioner, object_key

CATEGORIES = ("art", "beauty", "diy-and-crafts", "finance", "mens-fashion", "travel")
COUNTRIES = ("Albania", "Korea", "Antarctica (the territory South of 60 deg S)", "Чехия", "Peru")
FOLLOWERS = ("12k", "2M", "437", "User Info Error", "", "1.5k", "abc", "999", "12k", "7M")
TITLES = ("A title ", "No Title Data Available", "", "Ёлка 🎄", "A title ")
DESCRIPTIONS = ("No description available Story format", "No description available", "Untitled", "desc…\u00a0", "")
POSTERS = ("Alice", "Bob", "User Info Error", "Chloé", "")
TAGS = ("a,b,c", "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e", "")
IMAGES = ("https://i.pinimg.com/x.jpg", "Image src error.", "")
FIRST = ("Abigail", "Bob", "Chen")
LAST = ("Ali", "Smith", "Wu")


def day_ms(day: date, hour: int = 12) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)


def write_records(
    lake: Path,
    topic: str,
    records: Sequence[dict[str, Any] | str],
    *,
    partition: int = 0,
    start_offset: int = 0,
    partitioner: Partitioner = Partitioner.DAILY,
    day: date = date(2024, 5, 1),
    per_file: int = 7,
    gzip_files: bool = False,
) -> int:
    """Write ``records`` (rows, or raw lines as str) as sink files from ``start_offset``; returns the next offset."""
    offset = start_offset
    compression = Compression.GZIP if gzip_files else Compression.NONE
    for i in range(0, len(records), per_file):
        chunk = records[i : i + per_file]
        key = object_key(
            topic, partition, offset, partitioner=partitioner, timestamp_ms=day_ms(day), compression=compression
        )
        lines = "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in chunk)
        path = lake / key
        path.parent.mkdir(parents=True, exist_ok=True)
        data = lines.encode("utf-8")
        path.write_bytes(gzip.compress(data, mtime=0) if gzip_files else data)
        offset += len(chunk)
    return offset


def random_events(n: int, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """``n`` events' rows per kind (pin, geo, user), some with a geo or user row missing."""
    rnd = random.Random(seed)
    rows: dict[str, list[dict[str, Any]]] = {"pin": [], "geo": [], "user": []}
    base = datetime(2017, 10, 1)
    for ind in range(n):
        category = rnd.choice(CATEGORIES)
        rows["pin"].append(
            {
                "index": ind,
                "unique_id": f"uid-{ind}",
                "title": rnd.choice(TITLES),
                "description": rnd.choice(DESCRIPTIONS),
                "poster_name": rnd.choice(POSTERS),
                "follower_count": rnd.choice(FOLLOWERS),
                "tag_list": rnd.choice(TAGS),
                "is_image_or_video": rnd.choice(("image", "video", "multi-video(story page format)")),
                "image_src": rnd.choice(IMAGES),
                "downloaded": rnd.choice((0, 1)),
                "save_location": f"Local save in /data/{category}",
                "category": category,
            }
        )
        when = base + timedelta(days=rnd.randrange(0, 5 * 365), seconds=rnd.randrange(86400))
        fmt = "%Y-%m-%d %H:%M:%S" if rnd.random() < 0.7 else "%Y-%m-%dT%H:%M:%S"
        if rnd.random() < 0.9:
            rows["geo"].append(
                {
                    "ind": ind,
                    "timestamp": when.strftime(fmt),
                    "latitude": round(rnd.uniform(-90, 90), 4),
                    "longitude": round(rnd.uniform(-180, 180), 4),
                    "country": rnd.choice(COUNTRIES),
                }
            )
        if rnd.random() < 0.85:
            joined = datetime(2014, 6, 1) + timedelta(days=rnd.randrange(0, 7 * 365))
            rows["user"].append(
                {
                    "ind": ind,
                    "first_name": rnd.choice(FIRST),
                    "last_name": rnd.choice(LAST),
                    "age": rnd.choice((16, 18, 20, 24, 25, 30, 35, 36, 44, 50, 51, 60)),
                    "date_joined": joined.strftime(fmt),
                }
            )
    return rows


MISFITS: dict[str, list[str]] = {
    "pin": [
        '{"test": 1}',
        "not json at all",
        '{"ind": 1, "timestamp": "2020-01-01 00:00:00", "latitude": 1, "longitude": 2, "country": "X"}',
    ],
    "geo": ['{"ind": 2, "timestamp": "yesterday", "latitude": 1, "longitude": 2, "country": "X"}', "[1, 2]"],
    "user": [
        '{"ind": 3, "timestamp": "2020-01-01 00:00:00", "latitude": 1, "longitude": 2, "country": "X"}',
        '{"ind": "x", "first_name": "A", "last_name": "B", "age": 3, "date_joined": "2016-01-01 00:00:00"}',
    ],
}


# Records any producer may send that no JSON library agrees on: a repeated key (the last value wins
# on every engine) and bytes that are not UTF-8 (a dead letter, the rest of its file cleaned).
REPEATED_KEYS: dict[str, bytes] = {
    "pin": b'{"index": 9001, "index": 9002, "unique_id": "u", "title": "first", "description": "d",'
    b' "poster_name": "P", "follower_count": "1k", "tag_list": "a", "is_image_or_video": "image",'
    b' "image_src": "x", "downloaded": 1, "save_location": "Local save in /data/art", "category": "art",'
    b' "title": "last", "follower_count": "2k"}',
    "geo": b'{"ind": 9001, "timestamp": "2019-01-01 00:00:00", "latitude": 1.0, "longitude": 2.0,'
    b' "country": "First", "country": "Last", "timestamp": "2020-02-02T02:02:02"}',
    "user": b'{"ind": 9001, "first_name": "A", "last_name": "B", "age": 20, "date_joined": "2016-01-01 00:00:00",'
    b' "age": 30, "first_name": "Z"}',
}
GOOD: dict[str, dict[str, Any]] = {
    "pin": {
        "index": 9000, "unique_id": "u0", "title": "t", "description": "d", "poster_name": "P",
        "follower_count": "7", "tag_list": "a", "is_image_or_video": "image", "image_src": "x", "downloaded": 0,
        "save_location": "Local save in /data/art", "category": "art",
    },
    "geo": {"ind": 9000, "timestamp": "2019-01-01 00:00:00", "latitude": 1.0, "longitude": 2.0, "country": "Peru"},
    "user": {"ind": 9000, "first_name": "A", "last_name": "B", "age": 40, "date_joined": "2016-01-01 00:00:00"},
}  # fmt: skip
NOT_UTF8: dict[str, bytes] = {
    "pin": b'{"index": 9003, "title": "caf\xe9", "category": "art"}',
    "geo": b'{"ind": 9003, "country": "\xff\xfe", "timestamp": "2019-01-01 00:00:00"}',
    "user": b'{"ind": 9003, "first_name": "\xc3", "last_name": "B", "age": 20, "date_joined": "2016-01-01 00:00:00"}',
}


def write_odd_file(
    lake: Path, topic: str, kind: str, *, start_offset: int, partition: int = 0, gzip_file: bool = False
) -> list[bytes]:
    """One sink file of three lines: a good row, the repeated-key row, the line that is not UTF-8."""
    lines = [json.dumps(GOOD[kind]).encode(), REPEATED_KEYS[kind], NOT_UTF8[kind]]
    key = object_key(
        topic,
        partition,
        start_offset,
        partitioner=Partitioner.DAILY,
        timestamp_ms=day_ms(date(2024, 5, 1)),
        compression=Compression.GZIP if gzip_file else Compression.NONE,
    )
    data = b"".join(line + b"\n" for line in lines)
    path = lake / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gzip_file else data)
    return lines


def write_random_lake(lake: Path, prefix: str, n: int, *, seed: int = 7, replay: float = 0.3) -> None:
    """A lake of ``n`` events over two partitions and two days, with replays and misfits on every topic."""
    rnd = random.Random(seed)
    for kind, rows in random_events(n, seed).items():
        records: list[dict[str, Any] | str] = list(rows)
        records += [rnd.choice(rows) for _ in range(int(len(rows) * replay))]
        records += MISFITS[kind]
        rnd.shuffle(records)
        half = len(records) // 2
        write_records(lake, f"{prefix}.{kind}", records[:half], partition=0, day=date(2024, 5, 1), per_file=50)
        write_records(
            lake, f"{prefix}.{kind}", records[half:], partition=1, day=date(2024, 5, 2), per_file=50, gzip_files=True
        )
