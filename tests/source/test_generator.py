"""The generator reproduces the real data's shape (DESIGN.md, "The source database")."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from pinpipe.source import generator as g
from pinpipe.source.stats import follower_pattern
from tests.source._files import events

ROWS = 11_000  # the default size, which contains the canonical event 7528

Rows = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def data() -> Rows:
    return events(ROWS, seed=0)


def _share(rows: list[dict[str, Any]], test: Any) -> float:
    return sum(1 for r in rows if test(r)) / len(rows)


@pytest.mark.parametrize(
    ("column", "placeholder", "rate", "tolerance"),
    [
        ("title", g.NO_TITLE, 0.01, 0.006),
        ("description", g.NO_DESCRIPTION_STORY, 0.07, 0.015),
        ("description", g.NO_DESCRIPTION, 0.02, 0.008),
        ("description", g.UNTITLED, 0.002, 0.002),
        ("poster_name", g.USER_INFO_ERROR, 0.01, 0.006),
        ("follower_count", g.USER_INFO_ERROR, 0.01, 0.006),
        ("tag_list", g.NO_TAGS, 0.02, 0.008),
        ("image_src", g.IMAGE_SRC_ERROR, 0.025, 0.008),
    ],
)
def test_each_placeholder_class_at_its_rate(data: Rows, column: str, placeholder: str, rate: float, tolerance: float):
    observed = _share(data[0], lambda r: r[column] == placeholder)
    assert observed > 0, f"{column} never holds {placeholder!r}"
    assert abs(observed - rate) <= tolerance, f"{column}={placeholder!r}: {observed:.3%} vs {rate:.1%}"


def test_media_mix_and_story_rows_carry_several_placeholders(data: Rows):
    pins = data[0]
    media = Counter(p["is_image_or_video"] for p in pins)
    assert set(media) == {g.IMAGE, g.VIDEO, g.STORY}
    assert abs(media[g.IMAGE] / len(pins) - 0.90) <= 0.02
    assert abs(media[g.STORY] / len(pins) - 0.07) <= 0.015
    assert abs(media[g.VIDEO] / len(pins) - 0.03) <= 0.01
    stories = [p for p in pins if p["is_image_or_video"] == g.STORY]
    assert all(p["description"] == g.NO_DESCRIPTION_STORY and p["downloaded"] == 0 for p in stories)
    others = (g.NO_TITLE, g.USER_INFO_ERROR, g.NO_TAGS, g.IMAGE_SRC_ERROR)
    several = _share(stories, lambda p: sum(p[c] in others for c in p) >= 2)
    assert several >= 0.15, f"only {several:.1%} of story rows carry several placeholders"
    assert {p["downloaded"] for p in pins} == {0, 1}


def test_thirteen_categories_roughly_uniform(data: Rows):
    pins = data[0]
    counts = Counter(p["category"] for p in pins)
    assert set(counts) == set(g.CATEGORIES) and len(counts) == 13
    for category, n in counts.items():
        assert 0.06 <= n / len(pins) <= 0.10, category
    assert all(p["save_location"] == f"Local save in /data/{p['category']}" for p in pins)


def test_follower_count_text_patterns_and_max(data: Rows):
    pins = data[0]
    patterns = Counter(follower_pattern(p["follower_count"])[0] for p in pins)
    n = len(pins)
    assert abs(patterns["<n>k"] / n - 0.72) <= 0.03
    assert abs(patterns["digits"] / n - 0.19) <= 0.03
    assert abs(patterns["<n>M"] / n - 0.07) <= 0.02
    assert abs(patterns[g.USER_INFO_ERROR] / n - 0.01) <= 0.006
    assert set(patterns) == {"<n>k", "digits", "<n>M", g.USER_INFO_ERROR}
    top = max(v for p in pins if (v := follower_pattern(p["follower_count"])[1]) is not None)
    assert 8_000_000 <= top <= 15_000_000


def test_messy_but_valid_utf8_text(data: Rows):
    pins = data[0]
    texts = [p[c] for p in pins for c in ("title", "description", "poster_name")]
    for text in texts:
        text.encode("utf-8")  # no lone surrogates
    assert any(re.search("[\U0001f300-\U0001faff]", t) for t in texts), "no emoji"
    assert any(re.search("[а-яА-Я]", t) for t in texts), "no Cyrillic"
    assert any(t.endswith(" ") for t in texts), "no trailing spaces"
    cut = _share(pins, lambda p: p["description"].endswith("…\u00a0"))
    assert cut >= 0.05, "descriptions are not cut with … and a no-break space"


def test_tag_lists_are_comma_separated_without_spaces_around_commas(data: Rows):
    for pin in data[0]:
        if pin["tag_list"] != g.NO_TAGS:
            tags = pin["tag_list"].split(",")
            assert len(tags) >= 1 and all(t and t == t.strip() for t in tags), pin["tag_list"]


def test_geo_rows_countries_coordinates_and_timestamps(data: Rows):
    geos = data[1]
    countries = Counter(r["country"] for r in geos)
    assert 200 <= len(countries) <= 217 and set(countries) <= set(g.COUNTRIES)
    assert {"Antarctica (the territory South of 60 deg S)", "Korea"} <= set(g.COUNTRIES) and len(g.COUNTRIES) == 217
    assert all(-90 <= r["latitude"] <= 90 and -180 <= r["longitude"] <= 180 for r in geos)
    triples = Counter((r["latitude"], r["longitude"], r["country"]) for r in geos)
    assert len(triples) < len(geos) / 2 and triples.most_common(1)[0][1] >= 10, "coordinate triples do not repeat"
    stamps = [r["timestamp"] for r in geos]
    assert datetime(2017, 10, 1) <= min(stamps) < datetime(2017, 11, 1)
    assert datetime(2022, 10, 1) <= max(stamps) < datetime(2022, 11, 1)


def _bucket(age: int) -> str:
    return "18-24" if age <= 24 else "25-35" if age <= 35 else "36-50" if age <= 50 else "+50"


def test_user_ages_date_joined_and_repeated_persons(data: Rows):
    users = data[2]
    assert min(u["age"] for u in users) >= 20 and max(u["age"] for u in users) <= 60
    buckets = Counter(_bucket(u["age"]) for u in users)
    for bucket, share in {"18-24": 0.45, "25-35": 0.27, "36-50": 0.19, "+50": 0.08}.items():
        assert abs(buckets[bucket] / len(users) - share) <= 0.03, bucket
    joined = [u["date_joined"] for u in users]
    assert datetime(2015, 10, 1) <= min(joined) < datetime(2015, 11, 1)
    assert datetime(2017, 10, 1) <= max(joined) < datetime(2017, 11, 1)
    persons = Counter((u["first_name"], u["last_name"], u["date_joined"]) for u in users)
    assert len(persons) < len(users) / 2 and persons.most_common(1)[0][1] >= 10
    ages = {}
    for u in users:  # a person keeps their age under every ind
        ages.setdefault((u["first_name"], u["last_name"], u["date_joined"]), set()).add(u["age"])
    assert all(len(a) == 1 for a in ages.values())


def test_high_follower_posters_skew_young(data: Rows):
    pins, _, users = data
    young_high = [_bucket(u["age"]) == "18-24" for p, u in zip(pins, users, strict=True) if _followers(p) >= 100_000]
    young_low = [_bucket(u["age"]) == "18-24" for p, u in zip(pins, users, strict=True) if _followers(p) < 100_000]
    assert sum(young_high) / len(young_high) >= sum(young_low) / len(young_low) + 0.15


def _followers(pin: dict[str, Any]) -> int:
    return follower_pattern(pin["follower_count"])[1] or 0


def test_every_event_is_complete_and_keys_align(data: Rows):
    pins, geos, users = data
    assert [p["index"] for p in pins] == [r["ind"] for r in geos] == [r["ind"] for r in users] == list(range(ROWS))
    assert len({p["unique_id"] for p in pins}) == ROWS


def test_canonical_event_is_reproduced_exactly(data: Rows):
    pins, geos, users = data
    assert pins[g.CANONICAL_IND] == {
        "index": 7528,
        "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
        "title": "No Title Data Available",
        "description": "No description available Story format",
        "poster_name": "User Info Error",
        "follower_count": "User Info Error",
        "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
        "is_image_or_video": "multi-video(story page format)",
        "image_src": "Image src error.",
        "downloaded": 0,
        "save_location": "Local save in /data/mens-fashion",
        "category": "mens-fashion",
    }
    assert geos[7528] == {
        "ind": 7528,
        "timestamp": datetime(2020, 8, 28, 3, 52, 47),
        "latitude": -89.9787,
        "longitude": -173.293,
        "country": "Albania",
    }
    assert users[7528] == {
        "ind": 7528,
        "first_name": "Abigail",
        "last_name": "Ali",
        "age": 20,
        "date_joined": datetime(2015, 10, 24, 11, 23, 51),
    }
    assert list(pins[7528]) == list(g.CANONICAL_PIN)  # SELECT * column order


def test_same_seed_same_rows_other_seed_other_rows():
    assert events(1500, seed=7) == events(1500, seed=7)
    assert events(1500, seed=7)[0] != events(1500, seed=8)[0]


def test_chunk_size_does_not_change_the_rows():
    small = [c.pins for c in g.generate(2500, 3, chunk_size=300)]
    assert [p for chunk in small for p in chunk] == g.generate(2500, 3, chunk_size=10_000).__next__().pins
    assert len(small) == 9 and all(len(c) == 300 for c in small[:-1])
