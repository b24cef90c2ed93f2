"""Opening the source database: drivers a bare URL implies, read-only opens, and missing tables up front."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.exc import OperationalError

from pinpipe.cli import main
from pinpipe.errors import ConfigError
from pinpipe.source import db as source_db
from pinpipe.source import event_inds, iter_events, open_engine, populate
from pinpipe.source.db import SourceMissingError
from pinpipe.source.schema import metadata, pinterest_data
from tests.support.modules import without_modules


def _driver(engine: Engine) -> str:
    try:
        return f"{engine.dialect.name}+{engine.dialect.driver}"
    finally:
        engine.dispose()


# -- drivers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("mysql://u:p@127.0.0.1:1/db", "mysql+pymysql"),
        ("mariadb://u:p@127.0.0.1:1/db", "mariadb+pymysql"),
    ],
)
def test_bare_mysql_urls_use_the_bundled_pymysql(url: str, driver: str, monkeypatch: pytest.MonkeyPatch) -> None:
    without_modules(monkeypatch, "MySQLdb")
    assert _driver(open_engine(url)) == driver


def test_bare_postgresql_url_uses_the_bundled_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    without_modules(monkeypatch, "psycopg2")
    assert _driver(open_engine("postgresql://u:p@127.0.0.1:1/db")) == "postgresql+psycopg"


def test_a_bare_url_keeps_sqlalchemys_default_driver_when_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """mysqlclient "installed" (but broken here): the URL means MySQLdb, as in SQLAlchemy, and its failure says why."""
    real = importlib.util.find_spec
    monkeypatch.setattr(source_db, "find_spec", lambda name: object() if name == "MySQLdb" else real(name))
    with pytest.raises(ConfigError) as info:
        open_engine("mysql://u:secret@127.0.0.1:1/db")
    assert "No module named 'MySQLdb'" in str(info.value) and "mysql+pymysql://" in str(info.value)


@pytest.mark.parametrize(
    ("url", "missing", "suggested"),
    [
        ("mysql+mysqldb://u:secret@127.0.0.1:1/db", "MySQLdb", "mysql+pymysql://"),
        ("postgresql+psycopg2://u:secret@127.0.0.1:1/db", "psycopg2", "postgresql+psycopg://"),
    ],
)
def test_a_named_driver_that_is_missing_is_one_line_naming_the_bundled_one(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    missing: str,
    suggested: str,
) -> None:
    without_modules(monkeypatch, missing)
    assert main(["source", "stats", "--db", url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert f"No module named '{missing}'" in err and suggested in err and "secret" not in err, err


def test_an_unknown_scheme_lists_the_ones_that_work(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["source", "stats", "--db", "postgres://u:secret@127.0.0.1:1/db"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no dialect 'postgres'" in err and "postgresql+psycopg://" in err, err


# -- read-only opens ------------------------------------------------------------------------------


def test_stats_on_a_missing_database_fails_and_creates_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["source", "stats"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.out == "", captured
    assert "source.db does not exist" in captured.err and "pinpipe source init" in captured.err, captured.err
    assert not home.exists(), "stats created PINPIPE_HOME"


def test_stats_on_a_missing_file_elsewhere_creates_no_folder(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "typo" / "sourec.db"
    assert main(["source", "stats", "--db", f"sqlite:///{target}"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not target.parent.exists()


def test_stats_on_a_database_without_tables_says_they_are_missing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.db"
    path.touch()  # what a connect creates: an empty database
    assert main(["source", "stats", "--db", f"sqlite:///{path}"]) == 0
    assert capsys.readouterr().out.count("(missing)") == 3
    assert path.stat().st_size == 0, "stats wrote to the database"


def test_readonly_engine_reads_but_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "odd name #%.db"  # characters a SQLite URI must escape
    populate(open_engine(f"sqlite:///{path}"), 5, 1)
    engine = open_engine(f"sqlite:///{path}", readonly=True)
    try:
        assert event_inds(engine) == [0, 1, 2, 3, 4]
        with pytest.raises(OperationalError, match="readonly"), engine.begin() as conn:
            conn.execute(insert(pinterest_data).values(index=99))
    finally:
        engine.dispose()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_readonly_engine_never_recreates_a_file_removed_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "source.db"
    populate(open_engine(f"sqlite:///{path}"), 1, 1)
    engine = open_engine(f"sqlite:///{path}", readonly=True)
    path.unlink()
    with pytest.raises(Exception, match="unable to open database file"):
        event_inds(engine)
    engine.dispose()
    assert not path.exists()


def test_readonly_keeps_a_uri_urls_own_parameters(tmp_path: Path) -> None:
    path = tmp_path / "source.db"
    populate(open_engine(f"sqlite:///{path}"), 3, 1)
    engine = open_engine(f"sqlite:///file:{path}?uri=true&cache=private", readonly=True)
    try:
        assert event_inds(engine) == [0, 1, 2]
        with pytest.raises(OperationalError, match="readonly"), engine.begin() as conn:
            conn.execute(insert(pinterest_data).values(index=99))
    finally:
        engine.dispose()


def test_writers_still_create_the_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "source.db"
    assert populate(open_engine(f"sqlite:///{path}"), 2, 1) == 2
    assert path.is_file()


# -- missing tables -------------------------------------------------------------------------------


def test_reading_a_source_without_tables_names_the_fix(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'source.db'}")
    try:
        with pytest.raises(SourceMissingError, match="has no pinterest tables") as info:
            event_inds(engine)
        assert "pinpipe source init" in str(info.value) and "pinpipe source load" in str(info.value)
        with pytest.raises(SourceMissingError, match="has no pinterest tables"):
            list(iter_events(engine))
        pinterest_data.create(engine)
        with pytest.raises(SourceMissingError, match="has no tables geolocation_data, user_data"):
            event_inds(engine)
        metadata.create_all(engine)
        assert event_inds(engine) == []
    finally:
        engine.dispose()
