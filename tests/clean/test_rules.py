"""Every cleaning rule, one at a time, through the shared definition (DuckDB dialect via clean_batch)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from pinpipe.clean import clean_batch
from pinpipe.clean.sql import SPARK, literal, staged_sql

PIN: dict[str, Any] = {
    "index": 7528,
    "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
    "title": "A title ",
    "description": "desc",
    "poster_name": "Alice",
    "follower_count": "12k",
    "tag_list": "a,b",
    "is_image_or_video": "image",
    "image_src": "https://i.pinimg.com/x.jpg",
    "downloaded": 1,
    "save_location": "Local save in /data/mens-fashion",
    "category": "mens-fashion",
}
GEO: dict[str, Any] = {
    "ind": 7528,
    "timestamp": "2020-08-28 03:52:47",
    "latitude": -89.9787,
    "longitude": -173.293,
    "country": "Albania",
}
USER: dict[str, Any] = {
    "ind": 7528,
    "first_name": "Abigail",
    "last_name": "Ali",
    "age": 20,
    "date_joined": "2015-10-24 11:23:51",
}


def clean_one(kind: str, row: dict[str, Any] | str) -> dict[str, Any]:
    value = row if isinstance(row, str) else json.dumps(row)
    result = clean_batch(kind, [{"partition": 0, "offset": 0, "value": value}], topic=f"t.{kind}")
    assert result.dead_letters.num_rows == 0, result.dead_letters.to_pylist()
    (clean,) = result.clean.to_pylist()
    return clean


def reason(kind: str, value: str) -> str:
    result = clean_batch(kind, [{"partition": 0, "offset": 3, "value": value}], topic=f"t.{kind}")
    assert result.clean.num_rows == 0
    (dead,) = result.dead_letters.to_pylist()
    assert dead["value"] == value and dead["offset"] == 3 and dead["topic"] == f"t.{kind}"
    assert dead["source"] == "stream"
    return str(dead["reason"])


def test_canonical_pin_columns_in_design_order() -> None:
    clean = clean_one("pin", PIN)
    assert list(clean) == [
        "ind", "unique_id", "title", "description", "follower_count", "poster_name",
        "tag_list", "is_image_or_video", "image_src", "save_location", "category",
    ]  # fmt: skip
    assert clean["ind"] == 7528 and clean["title"] == "A title " and clean["category"] == "mens-fashion"


@pytest.mark.parametrize(
    ("field", "placeholder"),
    [
        ("title", "No Title Data Available"),
        ("description", "No description available Story format"),
        ("description", "No description available"),
        ("description", "Untitled"),
        ("poster_name", "User Info Error"),
        ("tag_list", "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"),
        ("image_src", "Image src error."),
        ("title", ""),
        ("poster_name", ""),
        ("image_src", ""),
    ],
)
def test_placeholders_and_empty_strings_become_null(field: str, placeholder: str) -> None:
    assert clean_one("pin", {**PIN, field: placeholder})[field] is None


def test_placeholder_of_another_field_is_kept() -> None:
    # "Untitled" is a description placeholder, not a title one.
    assert clean_one("pin", {**PIN, "title": "Untitled"})["title"] == "Untitled"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12k", 12_000),
        ("2M", 2_000_000),
        ("437", 437),
        ("0", 0),
        ("User Info Error", None),
        ("", None),
        ("1.5k", None),
        ("12K", None),
        (" 12k", None),
        ("abc", None),
        (None, None),
    ],
)
def test_follower_count(raw: str | None, expected: int | None) -> None:
    assert clean_one("pin", {**PIN, "follower_count": raw})["follower_count"] == expected


def test_save_location_strips_only_the_leading_prefix() -> None:
    clean = clean_one("pin", {**PIN, "save_location": "Local save in /data/Local save in x"})
    assert clean["save_location"] == "/data/Local save in x"


def test_downloaded_is_dropped_and_index_renamed() -> None:
    clean = clean_one("pin", PIN)
    assert "downloaded" not in clean and "index" not in clean and clean["ind"] == 7528


@pytest.mark.parametrize(
    "stamp", ["2020-08-28 03:52:47", "2020-08-28T03:52:47", "2020-08-28T03:52:47Z", "2020-08-28T03:52:47.000000"]
)
def test_timestamps_in_both_formats(stamp: str) -> None:
    clean = clean_one("geo", {**GEO, "timestamp": stamp})
    assert clean["timestamp"] == datetime(2020, 8, 28, 3, 52, 47, tzinfo=UTC)


def test_coordinates_pair_latitude_first_and_drop_the_columns() -> None:
    clean = clean_one("geo", GEO)
    assert list(clean) == ["ind", "country", "coordinates", "timestamp"]
    assert clean["coordinates"] == [-89.9787, -173.293]


def test_coordinates_null_when_both_missing() -> None:
    assert clean_one("geo", {**GEO, "latitude": None, "longitude": None})["coordinates"] is None


def test_user_name_and_date_joined() -> None:
    clean = clean_one("user", USER)
    assert clean == {
        "ind": 7528,
        "user_name": "Abigail Ali",
        "age": 20,
        "date_joined": datetime(2015, 10, 24, 11, 23, 51, tzinfo=UTC),
    }


def test_user_name_null_when_a_part_is_missing() -> None:
    assert clean_one("user", {**USER, "last_name": None})["user_name"] is None


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("pin", '{"test": 1}', "missing keys: index, unique_id"),
        ("pin", "not json", "not a JSON object"),
        ("pin", "[1, 2]", "not a JSON object"),
        ("geo", "null", "not a JSON object"),
        ("geo", '"a string"', "not a JSON object"),
        ("user", "5", "not a JSON object"),
        ("user", "", "not a JSON object"),
        ("pin", "{}", "missing keys: index, unique_id, title"),
        ("geo", json.dumps({k: v for k, v in GEO.items() if k != "country"}), "missing keys: country"),
        ("user", json.dumps(GEO), "a geo row, not a user row"),
        ("geo", json.dumps(USER), "a user row, not a geo row"),
        ("pin", json.dumps(GEO), "a geo row, not a pin row"),
        ("user", json.dumps({**USER, "age": "twenty"}), "age is not a valid integer: twenty"),
        ("user", json.dumps({**USER, "age": 20.5}), "age is not a valid integer: 20.5"),
        ("geo", json.dumps({**GEO, "latitude": "north"}), "latitude is not a valid double"),
        ("geo", json.dumps({**GEO, "timestamp": "28/08/2020"}), "timestamp is not a valid timestamp"),
        ("geo", json.dumps({**GEO, "timestamp": "2020-02-30 00:00:00"}), "timestamp is not a valid timestamp"),
        ("geo", json.dumps({**GEO, "ind": None}), "ind is null or not an integer"),
        ("pin", json.dumps({**PIN, "index": "x"}), "index is null or not an integer"),
    ],
)
def test_misfits_go_to_dead_letter_with_a_reason(kind: str, value: str, expected: str) -> None:
    assert reason(kind, value).startswith(expected)


def test_a_key_holding_null_is_present_not_missing() -> None:
    clean = clean_one("pin", {**PIN, "title": None, "category": None, "downloaded": None})
    assert clean["title"] is None and clean["category"] is None and clean["ind"] == 7528


def test_extra_keys_are_tolerated() -> None:
    assert clean_one("geo", {**GEO, "extra": 1})["country"] == "Albania"


def test_dedupe_keeps_the_lowest_partition_then_offset() -> None:
    rows = [
        {"partition": 1, "offset": 0, "value": json.dumps({**USER, "age": 31})},
        {"partition": 0, "offset": 9, "value": json.dumps({**USER, "age": 30})},
        {"partition": 0, "offset": 10, "value": json.dumps({**USER, "age": 32})},
    ]
    result = clean_batch("user", rows, topic="t.user")
    assert result.clean.column("age").to_pylist() == [30]


def test_dedupe_keeps_one_row_when_a_record_is_read_twice() -> None:
    # the same sink file in both lake layouts: identical (partition, offset), still one row per ind
    row = {"partition": 0, "offset": 4, "value": json.dumps(USER)}
    result = clean_batch("user", [row, row, {**row, "offset": 5}], topic="t.user")
    assert result.clean.column("ind").to_pylist() == [7528]


def test_clean_batch_accepts_arrow_bytes_values() -> None:
    import pyarrow as pa

    raw = pa.table({"partition": [0], "offset": [5], "value": pa.array([json.dumps(USER).encode()], pa.binary())})
    assert clean_batch("user", raw, topic="t.user").clean.column("ind").to_pylist() == [7528]


def test_shared_literals_refuse_what_the_engines_read_differently() -> None:
    with pytest.raises(ValueError):
        literal("back\\slash")
    assert "from_json" in staged_sql(SPARK, "pin", "raw")


@pytest.mark.parametrize(
    ("kind", "value", "column", "expected"),
    [
        ("user", '{"ind": 1, "first_name": "A", "last_name": "B", "age": 20, "date_joined": "2016-01-01", "age": 30}',
         "age", 30),
        ("user", '{"ind": 1, "ind": 2, "first_name": "A", "last_name": "B", "age": 20, "date_joined": "2016-01-01"}',
         "ind", 2),
        ("user", '{"ind": 1, "first_name": "A", "last_name": "B", "age": 20, "date_joined": "2016-01-01", "age": null}',
         "age", None),
        ("geo", '{"ind": 1, "timestamp": "2019-01-01 00:00:00", "latitude": 1, "longitude": 2, "country": "A",'
         ' "country": "B", "country": "C"}', "country", "C"),
    ],
)  # fmt: skip
def test_a_repeated_key_reads_its_last_value(kind: str, value: str, column: str, expected: Any) -> None:
    # the stream job's path (clean_batch); the batch engines are held to the same rule in tests/batch
    # and tests/engines/test_parity.py
    value = value.replace('"2016-01-01"', '"2016-01-01 00:00:00"')
    assert clean_one(kind, value)[column] == expected


def test_a_repeated_key_with_an_unreadable_last_value_is_a_dead_letter() -> None:
    value = json.dumps(USER)[:-1] + ', "age": "twenty"}'
    assert reason("user", value) == "age is not a valid integer: twenty"


def test_a_repeated_key_does_not_hide_a_missing_one() -> None:
    value = '{"ind": 1, "ind": 2, "first_name": "A", "last_name": "B", "age": 20}'
    assert reason("user", value) == "missing keys: date_joined"
