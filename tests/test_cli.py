"""CLI behaviour: the verbs are listed, unbuilt verbs say so, errors are one line unless --debug."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.models import CommandInfo

import pinpipe.cli as cli
from pinpipe.cli import main
from pinpipe.cli._common import not_built
from pinpipe.errors import PinpipeError

VERBS = ("demo", "source", "api", "emulate", "sink", "stream", "batch", "insights", "report", "sql", "config")


def test_help_lists_every_verb(capsys: pytest.CaptureFixture[str]):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in VERBS:
        assert f" {verb} " in out, f"{verb} missing from --help"


def test_source_help_lists_its_commands(capsys: pytest.CaptureFixture[str]):
    assert main(["source", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(f" {name} " in out for name in ("init", "load", "stats"))
    assert main(["source", "init", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(option in out for option in ("--rows", "--seed", "--db", "--replace"))


@pytest.fixture
def unbuilt_verb(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A verb whose part is not built yet, the way every such verb is wired (``not_built``)."""

    def later(ctx: typer.Context) -> None:
        not_built("later", 99)

    monkeypatch.setattr(
        cli.app, "registered_commands", [*cli.app.registered_commands, CommandInfo("later", callback=later)]
    )
    yield "later"


def test_unbuilt_verb_says_so_in_one_line_and_exits_2(unbuilt_verb: str, capsys: pytest.CaptureFixture[str]):
    assert main([unbuilt_verb]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: 'pinpipe later' is not built yet (tracked in issue 99)\n"


def test_error_is_one_line_on_stderr(home: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["source", "load", "--pin", "no-pins.jsonl", "--geo", "g.jsonl", "--user", "u.jsonl"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: cannot read pin file 'no-pins.jsonl'")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_debug_reraises(home: Path):
    with pytest.raises(PinpipeError, match="cannot read pin file"):
        main(["--debug", "source", "load", "--pin", "no-pins.jsonl", "--geo", "g.jsonl", "--user", "u.jsonl"])


def test_debug_shows_the_traceback_in_a_real_process(home: Path):
    args = ["--debug", "source", "load", "--pin", "none.jsonl", "--geo", "g", "--user", "u"]
    code = "import sys; from pinpipe.cli import run; sys.argv = ['pinpipe', *sys.argv[1:]]; run()"
    plain = subprocess.run(
        [sys.executable, "-c", code, *args[1:]], capture_output=True, text=True, timeout=60, env=os.environ
    )
    debug = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert plain.returncode == 1 and plain.stderr.count("\n") == 1 and "Traceback" not in plain.stderr
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    assert "PinpipeError: cannot read pin file 'none.jsonl'" in debug.stderr


def test_bad_option_value_is_one_line(home: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["source", "init", "--rows", "-3"]) == 1
    assert capsys.readouterr().err == "error: --rows must be >= 0, got -3\n"
    assert not home.exists(), "nothing should be created for a refused command"


def test_init_refuses_a_filled_database_unless_replace(home: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["source", "init", "--rows", "30"]) == 0
    assert (home / "source.db").exists(), "PINPIPE_HOME was not created"
    assert "wrote 30 events" in capsys.readouterr().err
    assert main(["source", "init", "--rows", "10"]) == 1
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "is not empty (30 pin rows, 30 geo rows, 30 user rows)" in err and "--replace" in err
    )
    assert main(["source", "init", "--rows", "10", "--replace"]) == 0
    capsys.readouterr()
    assert main(["source", "stats"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"pinterest_data +│ +10 │", out), out


def test_stats_shows_every_placeholder_class(home: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["source", "init", "--rows", "3000", "--seed", "2"]) == 0
    assert main(["source", "stats"]) == 0
    out = capsys.readouterr().out
    for placeholder in (
        "No Title Data Available",
        "No description available Story format",
        "'No description available'",
        "Untitled",
        "User Info Error",
        "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
        "Image src error.",
        "multi-video(story page format)",
        "13 categories",
    ):
        assert placeholder in out, placeholder


def test_stats_on_an_empty_home_says_the_tables_are_missing(home: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["source", "stats"]) == 0
    assert capsys.readouterr().out.count("(missing)") == 3
