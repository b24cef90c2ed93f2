"""CLI behaviour: the verbs are listed, errors are one line unless --debug."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pinpipe.cli import main
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


def test_python_m_pinpipe_sink_ends_like_pinpipe_sink_run(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """The sink's own entry point (it starts without the other verbs) goes through the same runner:
    an unexpected error is one line there too, and --debug shows its traceback."""
    from pinpipe.sink import command

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("log exploded")

    monkeypatch.setattr(command, "open_log", broken)
    for run in (command.main, lambda args: main(["sink", *args])):
        assert run(["run", "--until-idle"]) == 1
        captured = capsys.readouterr()
        assert captured.err == "error: RuntimeError: log exploded (run with --debug for the traceback)\n"
    with pytest.raises(RuntimeError, match="log exploded"):
        command.main(["run", "--until-idle", "--debug"])


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
