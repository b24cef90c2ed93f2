"""`pinpipe emulate` on a source that is not there yet: one line naming the fix, nothing sent, nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from pinpipe.cli import main
from pinpipe.source.schema import user_data
from tests.emulate._support import FakeGateway, make_source


def _emulate(route: str, gateway: FakeGateway, *flags: str) -> int:
    return main(["emulate", route, "--events", "3", "--attempts", "1", "--api", gateway.url, *flags])


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: "), captured.err
    assert "Traceback" not in captured.err and "is the gateway up" not in captured.err, captured.err
    return captured.err


@pytest.mark.parametrize("route", ["batch", "stream"])
def test_emulate_before_source_init_names_the_fix_and_creates_nothing(
    home: Path, capsys: pytest.CaptureFixture[str], route: str
) -> None:
    with FakeGateway() as gateway:
        assert _emulate(route, gateway) == 1
    err = _one_line(capsys)
    assert "source.db does not exist" in err and "pinpipe source init" in err, err
    assert gateway.requests == []
    assert not home.exists(), "emulate created PINPIPE_HOME"


def test_emulate_on_a_database_without_tables_names_the_fix(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "source.db"
    path.touch()  # an empty database: the file a stray connect leaves
    with FakeGateway() as gateway:
        assert _emulate("batch", gateway, "--db", f"sqlite:///{path}") == 1
    err = _one_line(capsys)
    assert "has no pinterest tables" in err and "pinpipe source init" in err and "pinpipe source load" in err, err
    assert "no such table" not in err
    assert gateway.requests == [] and path.stat().st_size == 0


def test_emulate_on_a_source_missing_one_table_names_it_before_sending(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = make_source(tmp_path / "source.db", range(1, 11))
    engine = create_engine(url)
    try:
        user_data.drop(engine)
    finally:
        engine.dispose()
    with FakeGateway() as gateway:
        assert _emulate("stream", gateway, "--db", url) == 1
    assert "has no table user_data" in _one_line(capsys)
    assert gateway.requests == []


def test_emulate_leaves_the_source_file_untouched(home: Path, tmp_path: Path) -> None:
    url = make_source(tmp_path / "source.db", range(1, 21))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with FakeGateway() as gateway:
        assert _emulate("batch", gateway, "--db", url) == 0
    assert len(gateway.inds("pinterest.pin")) == 3
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
