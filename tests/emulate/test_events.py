"""Choosing events and reading their rows from the source database."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pinpipe.emulate.events import EmptySourceError, SourceReader, pick
from pinpipe.source.db import open_engine
from pinpipe.source.schema import metadata
from tests.emulate._support import make_source


@pytest.fixture
def reader(tmp_path: Path) -> SourceReader:
    url = make_source(tmp_path / "source.db", range(1, 41), no_geo={3, 4}, no_user={4, 5}, geo_only=[1000])
    source = SourceReader(open_engine(url))
    yield source
    source.close()


def test_event_ids_are_the_pins(reader: SourceReader) -> None:
    assert list(reader.event_ids()) == list(range(1, 41))  # the geo row 1000 has no pin: no event


def test_same_seed_same_events_other_seed_other_events(reader: SourceReader) -> None:
    ids = reader.event_ids()
    first = list(pick(ids, random.Random(7), count=200, every_once=False))
    again = list(pick(ids, random.Random(7), count=200, every_once=False))
    other = list(pick(ids, random.Random(8), count=200, every_once=False))
    assert first == again
    assert first != other
    assert len(first) == 200 and set(first) <= set(ids)
    assert len(set(first)) < 200  # drawn with replacement, as the seed's emulator did


def test_every_once_is_each_id_exactly_once_in_a_seeded_order(reader: SourceReader) -> None:
    ids = reader.event_ids()
    order = list(pick(ids, random.Random(1), count=None, every_once=True))
    assert sorted(order) == list(ids)
    assert order != list(ids)
    assert order == list(pick(ids, random.Random(1), count=None, every_once=True))
    assert list(pick(ids, random.Random(1), count=5, every_once=True)) == order[:5]


def test_unbounded_draw_goes_on_until_the_caller_stops() -> None:
    drawn = pick([1, 2, 3], random.Random(0), count=None, every_once=False)
    assert len([next(drawn) for _ in range(10_000)]) == 10_000


def test_fetch_sends_the_rows_that_exist_in_the_order_asked(reader: SourceReader) -> None:
    events = reader.fetch([5, 3, 4, 1000, 5, 99_999])
    assert [e.ind for e in events] == [5, 3, 4, 5]  # 1000 has only a geo row, 99999 nothing
    by_ind = {e.ind: e.rows for e in events}
    assert set(by_ind[5]) == {"pin", "geo"}
    assert set(by_ind[3]) == {"pin", "user"}
    assert set(by_ind[4]) == {"pin"}


def test_rows_are_json_ready_with_seed_style_datetimes(reader: SourceReader) -> None:
    (event,) = reader.fetch([1])
    assert list(event.rows["pin"])[:3] == ["index", "unique_id", "title"]  # SELECT * order
    assert event.rows["pin"]["index"] == 1 and event.rows["pin"]["title"] == "title 1 ✨"
    assert event.rows["geo"]["timestamp"] == "2020-08-28 03:53:47"
    assert event.rows["user"] == {
        "ind": 1,
        "first_name": "Abigail",
        "last_name": "Ali",
        "age": 20,
        "date_joined": "2015-10-24 11:23:51",
    }


def test_empty_source_says_how_to_fill_it(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    metadata.create_all(engine)
    source = SourceReader(engine)
    with pytest.raises(EmptySourceError, match="no events") as info:
        source.event_ids()
    assert "pinpipe source init" in str(info.value)
    source.close()
