"""Thirteen events whose nine insight tables were worked out by hand (see the comments per table).

Covers a tie in counts (country A, age group +50) and in followers (A: P1/P3; B and C overall), an
even-count median (25-35), an age outside every group (17), years outside the ranges (2017, 2023 posts;
2014, 2021 joins), a missing geo row (12) and user row (13), replays, and two misfits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pinpipe.batch import run_batch
from pinpipe.engines.base import Engine
from pinpipe.insights import INSIGHTS
from pinpipe.settings import Settings, get_settings
from pinpipe.tables import dead_letter_table_uri, insight_table, read_table
from tests.batch.lakegen import write_records

# ind: (category, poster_name, follower_count, geo (country, timestamp) | None, user (name, age, joined) | None)
EVENTS: dict[int, tuple[str, str, str, tuple[str, str] | None, tuple[str, int, str] | None]] = {
    1: ("art", "P1", "10k", ("A", "2018-01-01 10:00:00"), ("Ann Lee", 20, "2015-03-01 00:00:00")),
    2: ("art", "P2", "2k", ("A", "2018-05-05T10:00:00"), ("Bob Ray", 22, "2016-01-01T00:00:00")),
    3: ("travel", "P3", "10k", ("A", "2019-01-01 00:00:00"), ("Cat Kim", 30, "2016-06-01 00:00:00")),
    4: ("travel", "P4", "500", ("A", "2019-02-02 00:00:00"), ("Cat Kim", 30, "2016-06-01 00:00:00")),
    5: ("beauty", "P5", "1M", ("B", "2020-01-01 00:00:00"), ("Dan Fox", 40, "2017-01-01 00:00:00")),
    6: ("beauty", "P6", "User Info Error", ("B", "2020-03-03 00:00:00"), ("Eve Moe", 45, "2017-02-01 00:00:00")),
    7: ("art", "P5", "1M", ("B", "2021-01-01 00:00:00"), ("Fay Ng", 55, "2020-05-05 00:00:00")),
    8: ("finance", "User Info Error", "3M", ("B", "2022-01-01 00:00:00"), ("Gus Oh", 17, "2018-01-01 00:00:00")),
    9: ("finance", "P7", "300", ("C", "2017-06-01 00:00:00"), ("Hal Po", 60, "2014-01-01 00:00:00")),
    10: ("art", "P8", "1M", ("C", "2018-07-07 00:00:00"), ("Ida Qu", 24, "2015-07-07 00:00:00")),
    11: ("travel", "P9", "40", ("C", "2023-01-01 00:00:00"), ("Jo Ro", 25, "2021-01-01 00:00:00")),
    12: ("beauty", "P11", "7k", None, ("Kim Su", 35, "2019-01-01 00:00:00")),
    13: ("art", "P10", "100", ("C", "2018-09-09 00:00:00"), None),
}

EXPECTED: dict[str, list[tuple[Any, ...]]] = {
    # A: art 2 (1,2) ties travel 2 (3,4); B: beauty 2 (5,6); C: art 2 (10,13).
    "top_category_by_country": [("A", "art", 2), ("A", "travel", 2), ("B", "beauty", 2), ("C", "art", 2)],
    # 2017 (9) and 2023 (11) are outside 2018-2022.
    "top_category_by_year": [
        (2018, "art", 4),
        (2019, "travel", 2),
        (2020, "beauty", 2),
        (2021, "art", 1),
        (2022, "finance", 1),
    ],
    # A: P1 and P3 tie at 10k; B: P6 has no count, 8 has no poster; C: P8.
    "top_user_by_country": [("A", "P1", 10_000), ("A", "P3", 10_000), ("B", "P5", 1_000_000), ("C", "P8", 1_000_000)],
    "top_country_by_followers": [("B", 1_000_000), ("C", 1_000_000)],
    # Age 17 (8) is in no group; +50 ties art (7) and finance (9).
    "top_category_by_age_group": [
        ("+50", "art", 1),
        ("+50", "finance", 1),
        ("18-24", "art", 3),
        ("25-35", "travel", 3),
        ("36-50", "beauty", 2),
    ],
    # 25-35: 40, 500, 7000, 10000 -> (500 + 7000) / 2; 36-50: 6's count is null.
    "median_followers_by_age_group": [
        ("+50", 500_150.0),
        ("18-24", 10_000.0),
        ("25-35", 3_750.0),
        ("36-50", 1_000_000.0),
    ],
    # Cat Kim (3, 4) is one user; 2014 (Hal) and 2021 (Jo) are outside 2015-2020.
    "users_joined_by_year": [(2015, 2), (2016, 2), (2017, 2), (2018, 1), (2019, 1), (2020, 1)],
    "median_followers_by_join_year": [
        (2015, 505_000.0),
        (2016, 2_000.0),
        (2017, 1_000_000.0),
        (2018, 3_000_000.0),
        (2019, 7_000.0),
        (2020, 1_000_000.0),
    ],
    "median_followers_by_join_year_and_age_group": [
        ("+50", 2020, 1_000_000.0),
        ("18-24", 2015, 505_000.0),
        ("18-24", 2016, 2_000.0),
        ("25-35", 2016, 5_250.0),
        ("25-35", 2019, 7_000.0),
        ("36-50", 2017, 1_000_000.0),
    ],
}

PIN_MISFIT = '{"test": 1}'
USER_MISFIT = '{"ind": 3, "timestamp": "2020-01-01 00:00:00", "latitude": 1.0, "longitude": 2.0, "country": "A"}'


def rows() -> dict[str, list[dict[str, Any] | str]]:
    out: dict[str, list[dict[str, Any] | str]] = {"pin": [], "geo": [], "user": []}
    for ind, (category, poster, followers, geo, user) in EVENTS.items():
        out["pin"].append(
            {
                "index": ind,
                "unique_id": f"u{ind}",
                "title": "t",
                "description": "d",
                "poster_name": poster,
                "follower_count": followers,
                "tag_list": "a,b",
                "is_image_or_video": "image",
                "image_src": "i",
                "downloaded": 1,
                "save_location": f"Local save in /data/{category}",
                "category": category,
            }
        )
        if geo:
            out["geo"].append({"ind": ind, "timestamp": geo[1], "latitude": 1.5, "longitude": -2.5, "country": geo[0]})
        if user:
            first, last = user[0].split()
            out["user"].append(
                {"ind": ind, "first_name": first, "last_name": last, "age": user[1], "date_joined": user[2]}
            )
    for kind in out:  # replays of events 1 and 5
        out[kind] += [r for r in out[kind] if isinstance(r, dict) and r.get("ind", r.get("index")) in (1, 5)]
    out["pin"].insert(4, PIN_MISFIT)
    out["user"].insert(2, USER_MISFIT)
    return out


def write_lake(settings: Settings) -> None:
    lake = settings.home / "lake"
    for kind, records in rows().items():
        write_records(lake, settings.topic(kind), records, per_file=4)


def as_tuples(settings: Settings, name: str) -> list[tuple[Any, ...]]:
    table = read_table(insight_table(settings, name))
    assert table is not None
    assert table.column_names == INSIGHTS[name].columns
    return [tuple(r.values()) for r in table.to_pylist()]


def check(settings: Settings) -> None:
    for name, expected in EXPECTED.items():
        assert as_tuples(settings, name) == expected, name
    dead = read_table(dead_letter_table_uri(settings))
    assert dead is not None
    found = sorted((r["topic"], r["offset"], r["value"], r["reason"][:9]) for r in dead.to_pylist())
    assert found == [("pinterest.pin", 4, PIN_MISFIT, "missing k"), ("pinterest.user", 2, USER_MISFIT, "a geo row")]


def test_hand_checked_insights_duckdb(home: Path) -> None:
    settings = get_settings()
    write_lake(settings)
    summary = run_batch(settings, None, "duckdb", progress=lambda _: None)
    assert summary.rows_written == {"pin": 13, "geo": 12, "user": 12}
    assert summary.records_read == {"pin": 16, "geo": 14, "user": 15}
    assert summary.dead_letters == 2
    check(settings)


@pytest.mark.spark
@pytest.mark.slow
def test_hand_checked_insights_spark(home: Path, spark: Any) -> None:
    from pinpipe.engines.spark import SparkEngine

    settings = get_settings()
    write_lake(settings)
    engine: Engine = SparkEngine(settings, session=spark)
    run_batch(settings, None, "spark", progress=lambda _: None, engine_instance=engine)
    engine.close()
    check(settings)
