"""`pinpipe source load`: validated JSON lines, gaps accepted, rows without a pin skipped, a bad line loads nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pinpipe.cli import main
from pinpipe.source import iter_events, open_engine, row_counts
from pinpipe.source.loader import validate_row
from tests.source._files import events, write_jsonl


@pytest.fixture
def files(home: Path, tmp_path: Path) -> dict[str, Path]:
    """200 generated events as files, with every 5th pin lacking its geo row and every 7th its user row."""
    pins, geos, users = events(200, seed=4)
    return {
        "pin": write_jsonl(tmp_path / "pin.jsonl", pins),
        "geo": write_jsonl(tmp_path / "geo.jsonl", [r for r in geos if r["ind"] % 5]),
        "user": write_jsonl(tmp_path / "user.jsonl", [r for r in users if r["ind"] % 7]),
    }


def _load(files: dict[str, Path], *extra: str) -> int:
    return main(
        ["source", "load", "--pin", str(files["pin"]), "--geo", str(files["geo"]), "--user", str(files["user"]), *extra]
    )


def _counts(home: Path) -> dict[str, int | None]:
    engine = open_engine(f"sqlite:///{home / 'source.db'}")
    try:
        return row_counts(engine)
    finally:
        engine.dispose()


def test_good_load_with_gaps(files: dict[str, Path], home: Path, capsys: pytest.CaptureFixture[str]):
    assert _load(files) == 0
    assert _counts(home) == {"pin": 200, "geo": 160, "user": 171}
    assert "40 pins have no geo row, 29 no user row" in capsys.readouterr().err
    engine = open_engine(f"sqlite:///{home / 'source.db'}")
    try:
        by_ind = {e.ind: e for e in iter_events(engine, [10, 14, 3, 999])}
    finally:
        engine.dispose()
    assert list(by_ind) == [10, 14, 3]  # order kept, the missing pin skipped
    assert by_ind[10].geo is None and by_ind[10].user is not None
    assert by_ind[14].user is None and by_ind[14].geo is not None
    assert by_ind[3].geo is not None and by_ind[3].user is not None


def _replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _edited(path: Path, number: int, **changes: Any) -> str:
    row = json.loads(path.read_text(encoding="utf-8").splitlines()[number - 1])
    row.update(changes)
    return json.dumps({k: v for k, v in row.items() if v is not ...}, ensure_ascii=False)


@pytest.mark.parametrize(
    ("kind", "number", "line", "reason"),
    [
        ("pin", 3, lambda p: "{not json", "not valid JSON"),
        ("pin", 5, lambda p: "[1, 2]", "expected a JSON object"),
        ("pin", 7, lambda p: _edited(p, 7, colour="red"), "unknown key(s) 'colour'"),
        ("pin", 9, lambda p: _edited(p, 9, category=...), "missing key(s) 'category'"),
        ("pin", 11, lambda p: _edited(p, 11, downloaded=2), "'downloaded' must be 0 or 1"),
        ("pin", 12, lambda p: _edited(p, 12, unique_id="not-a-uuid"), "'unique_id' must be a UUID"),
        ("pin", 13, lambda p: _edited(p, 13, index=None), "'index' must be an integer"),
        ("pin", 14, lambda p: _edited(p, 14, index=0), "index 0 appears twice"),
        ("geo", 2, lambda p: _edited(p, 2, latitude=91.5), "'latitude' must be between -90 and 90"),
        ("geo", 4, lambda p: _edited(p, 4, timestamp="yesterday"), "'timestamp' must be a datetime"),
        ("geo", 6, lambda p: _edited(p, 6, ind=1), "ind 1 appears twice"),
        ("user", 3, lambda p: _edited(p, 3, ind=5000, age=-1), "'age' must be an age"),  # checked though skipped
        ("user", 150, lambda p: _edited(p, 150, age="20"), "'age' must be an integer, got '20'"),
    ],
)
def test_bad_line_names_file_and_line_and_loads_nothing(
    files: dict[str, Path],
    home: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    number: int,
    line: Any,
    reason: str,
):
    _replace_line(files[kind], number, line(files[kind]))
    assert _load(files) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"{files[kind]}:{number}: " in err and reason in err, err
    assert not any(_counts(home).values()), "a failed load left rows behind"


def test_invalid_utf8_is_refused(files: dict[str, Path], home: Path, capsys: pytest.CaptureFixture[str]):
    with files["user"].open("ab") as out:
        out.write(b'{"ind": 1, "first_name": "\xff"}\n')
    assert _load(files) == 1
    assert f"{files['user']}:172: not valid JSON" in capsys.readouterr().err
    assert not any(_counts(home).values())


def test_clash_with_rows_already_loaded(files: dict[str, Path], home: Path, capsys: pytest.CaptureFixture[str]):
    assert _load(files) == 0
    capsys.readouterr()
    assert _load(files) == 1
    assert f"{files['pin']}:1: index 0 is already in the database" in capsys.readouterr().err
    assert _counts(home) == {"pin": 200, "geo": 160, "user": 171}


def test_missing_file_is_one_line(files: dict[str, Path], home: Path, capsys: pytest.CaptureFixture[str]):
    files["geo"] = files["geo"].with_name("absent.jsonl")
    assert _load(files) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read geo file") and "absent.jsonl" in err and err.count("\n") == 1


def test_validate_row_types_values():
    row = validate_row(
        "geo", {"ind": 1, "timestamp": "2020-08-28T03:52:47+02:00", "latitude": 1, "longitude": -2.5, "country": None}
    )
    assert str(row["timestamp"]) == "2020-08-28 01:52:47" and row["latitude"] == 1.0 and row["country"] is None
    with pytest.raises(ValueError, match="'latitude' must be a number, got True"):
        validate_row("geo", {"ind": 1, "timestamp": None, "latitude": True, "longitude": 0, "country": "X"})


def _append(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _geo(ind: int) -> dict[str, Any]:
    return {"ind": ind, "timestamp": "2020-08-28 03:52:47", "latitude": 1.5, "longitude": 2.5, "country": "Albania"}


def _user(ind: int) -> dict[str, Any]:
    return {"ind": ind, "first_name": "Test", "last_name": "Post", "age": 30, "date_joined": "2016-01-01 00:00:00"}


def test_geo_and_user_rows_without_a_pin_are_skipped_and_reported(
    files: dict[str, Path], home: Path, capsys: pytest.CaptureFixture[str]
):
    """The original topics hold test posts whose geo/user rows have no pin: the rest of the data loads."""
    _append(files["geo"], [_geo(5000)])
    _append(files["user"], [_user(6001), _user(6000)])
    assert _load(files) == 0
    assert _counts(home) == {"pin": 200, "geo": 160, "user": 171}  # the skipped rows are not in the database
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "loaded 200 pin, 160 geo and 171 user rows" in err and "40 pins have no geo row, 29 no user row" in err
    assert "skipped 1 geo row (ind 5000) and 2 user rows (ind 6001, 6000) (no pin row for their ind)" in err, err


def test_many_skipped_rows_are_counted_whole_and_shown_first_few(files: dict[str, Path], home: Path):
    from pinpipe.source import load

    _append(files["user"], [_user(10_000 + i) for i in range(25)])
    engine = open_engine(f"sqlite:///{home / 'source.db'}")
    try:
        result = load(engine, files["pin"], files["geo"], files["user"])
    finally:
        engine.dispose()
    assert (result.geos_skipped, result.users_skipped) == (0, 25)
    assert result.skipped_user_inds == tuple(range(10_000, 10_010)) and result.skipped_geo_inds == ()
    assert "skipped 25 user rows (ind 10000, 10001, 10002, 10003, 10004, 10005, 10006, 10007, 10008, 10009, …)" in (
        result.summary("db")
    )
    assert "skipped" not in replace(result, users_skipped=0).summary("db")


def test_geo_and_user_rows_of_pins_loaded_before_are_not_skipped(
    files: dict[str, Path], home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    assert _load({"pin": files["pin"], "geo": empty, "user": empty}) == 0
    capsys.readouterr()
    assert _load({"pin": empty, "geo": files["geo"], "user": files["user"]}) == 0
    assert "skipped" not in capsys.readouterr().err
    assert _counts(home) == {"pin": 200, "geo": 160, "user": 171}


def test_load_help_states_the_skip(capsys: pytest.CaptureFixture[str]):
    assert main(["source", "load", "--help"]) == 0
    assert "no pin are skipped" in " ".join(capsys.readouterr().out.split())
