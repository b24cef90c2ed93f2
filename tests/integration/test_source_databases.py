"""The source database on SQLite, real MariaDB and real PostgreSQL: init, stats, load, exact round trips."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pinpipe.cli import main
from pinpipe.source import collect, event_inds, iter_events, open_engine, row_counts
from pinpipe.source.db import SourceMissingError
from pinpipe.source.generator import CANONICAL_IND
from tests.source._files import events, write_jsonl
from tests.support.modules import without_modules

pytestmark = pytest.mark.services


def _new_database(server_url: str) -> str:
    """A fresh, empty database on a session server; returns its URL."""
    name = f"pinpipe_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if admin.dialect.name == "mysql":
                conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
            else:
                conn.execute(text(f"CREATE DATABASE {name} ENCODING 'UTF8'"))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "mariadb", "postgres"])
def source_url(request: pytest.FixtureRequest, home: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{home / 'source.db'}"
    else:
        server = request.getfixturevalue(f"{request.param}_server")
        yield _new_database(server.url)


def test_init_then_stats_then_read_back_every_row_exactly(source_url: str, capsys: pytest.CaptureFixture[str]):
    rows = CANONICAL_IND + 72  # contains the canonical event, and enough messy text
    assert main(["source", "init", "--rows", str(rows), "--seed", "0", "--db", source_url]) == 0
    assert f"wrote {rows:,} events" in capsys.readouterr().err
    pins, geos, users = events(rows, seed=0)
    engine = open_engine(source_url)
    try:
        figures = collect(engine)
        assert figures.counts == {"pin": rows, "geo": rows, "user": rows}
        expected = {(c, v): sum(p[c] == v for p in pins) for c, v, _ in figures.placeholders}
        assert {(c, v): n for c, v, n in figures.placeholders} == expected
        assert all(n > 0 for n in expected.values())
        assert len(figures.categories) == 13 and figures.pins_without_geo == figures.pins_without_user == 0
        assert event_inds(engine) == list(range(rows))
        got = list(iter_events(engine, batch_size=997))
    finally:
        engine.dispose()
    assert [e.ind for e in got] == list(range(rows))
    for event, pin, geo, user in zip(got, pins, geos, users, strict=True):
        assert (event.pin, event.geo, event.user) == (pin, geo, user)
        assert list(event.pin) == list(pin)  # SELECT * column order
    assert main(["source", "stats", "--db", source_url]) == 0
    assert "No description available Story format" in capsys.readouterr().out


MESSY = [
    "Christmas 🎄✨ décor ideas ",  # emoji (4-byte UTF-8), accent, trailing space
    "Красивые татуировки для мужчин",
    "A cut description that goes on and on…\u00a0",
    "  leading and trailing  ",
    "emoji only 🧑‍🎨👩🏽‍💻🇬🇧",  # ZWJ sequences, skin tone, flag
    "quotes \"double\" and 'single' and back\\slash\ttab",
]


def test_load_with_gaps_and_messy_utf8_round_trips_exactly(source_url: str, tmp_path: Path):
    pins, geos, users = events(len(MESSY) * 2, seed=9)
    for pin, messy in zip(pins, MESSY, strict=False):
        pin["title"] = pin["description"] = pin["poster_name"] = messy
    users[1]["first_name"], users[1]["last_name"] = "Ёлка 🎄", "O'Brien "
    geos[2]["country"] = "Côte d'Ivoire"
    pin_file = write_jsonl(tmp_path / "pin.jsonl", pins)
    geo_file = write_jsonl(tmp_path / "geo.jsonl", [g for g in geos if g["ind"] != 3])
    user_file = write_jsonl(tmp_path / "user.jsonl", [u for u in users if u["ind"] != 4])
    assert (
        main(
            [
                "source",
                "load",
                "--pin",
                str(pin_file),
                "--geo",
                str(geo_file),
                "--user",
                str(user_file),
                "--db",
                source_url,
            ]
        )
        == 0
    )
    engine = open_engine(source_url)
    try:
        got = {e.ind: e for e in iter_events(engine)}
        figures = collect(engine)
    finally:
        engine.dispose()
    assert [got[p["index"]].pin for p in pins] == pins
    assert got[3].geo is None and got[4].user is None
    assert [got[g["ind"]].geo for g in geos if g["ind"] != 3] == [g for g in geos if g["ind"] != 3]
    assert [got[u["ind"]].user for u in users if u["ind"] != 4] == [u for u in users if u["ind"] != 4]
    assert (figures.pins_without_geo, figures.pins_without_user) == (1, 1)


def test_bad_load_leaves_nothing_and_init_refuses_then_replaces(
    source_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    pins, geos, users = events(50, seed=1)
    users[49]["age"] = "old"
    files = [write_jsonl(tmp_path / f"{k}.jsonl", rows) for k, rows in (("pin", pins), ("geo", geos), ("user", users))]
    args = [
        "source",
        "load",
        "--pin",
        str(files[0]),
        "--geo",
        str(files[1]),
        "--user",
        str(files[2]),
        "--db",
        source_url,
    ]
    assert main(args) == 1
    assert f"{files[2]}:50: 'age' must be an integer" in capsys.readouterr().err
    engine = open_engine(source_url)
    try:
        assert row_counts(engine) == {"pin": 0, "geo": 0, "user": 0}
        assert main(["source", "init", "--rows", "20", "--db", source_url]) == 0
        assert main(["source", "init", "--rows", "20", "--db", source_url]) == 1
        assert "is not empty" in capsys.readouterr().err
        assert main(["source", "init", "--rows", "7", "--seed", "3", "--replace", "--db", source_url]) == 0
        assert row_counts(engine) == {"pin": 7, "geo": 7, "user": 7}
    finally:
        engine.dispose()


def test_a_bare_scheme_url_works_with_the_driver_pinpipe_ships(
    source_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mysql://…` and `postgresql://…` as SQLAlchemy users write them, without mysqlclient or psycopg2."""
    without_modules(monkeypatch, "MySQLdb", "psycopg2")
    parsed = make_url(source_url)
    bare = parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=False)
    assert main(["source", "init", "--rows", "5", "--db", bare]) == 0
    assert main(["source", "stats", "--db", bare]) == 0
    assert "pinterest_data" in capsys.readouterr().out


def test_reading_a_database_without_tables_names_source_init(source_url: str):
    engine = open_engine(source_url)
    try:
        with pytest.raises(SourceMissingError, match="has no pinterest tables") as info:
            event_inds(engine)
        assert "pinpipe source init" in str(info.value)
    finally:
        engine.dispose()


def test_load_skips_geo_and_user_rows_without_a_pin(
    source_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    pins, geos, users = events(12, seed=5)
    orphan_geo = {**geos[0], "ind": 900}
    orphan_users = [{**users[0], "ind": 901}, {**users[1], "ind": 902}]
    files = [
        write_jsonl(tmp_path / "pin.jsonl", pins),
        write_jsonl(tmp_path / "geo.jsonl", [*geos, orphan_geo]),
        write_jsonl(tmp_path / "user.jsonl", [*orphan_users, *users]),
    ]
    args = ["source", "load", "--pin", str(files[0]), "--geo", str(files[1]), "--user", str(files[2])]
    assert main([*args, "--db", source_url]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 geo row (ind 900) and 2 user rows (ind 901, 902)" in err, err
    engine = open_engine(source_url)
    try:
        assert row_counts(engine) == {"pin": 12, "geo": 12, "user": 12}
        assert [e.ind for e in iter_events(engine)] == list(range(12))
    finally:
        engine.dispose()
