"""CLI behaviour: the verbs are listed, errors are one line unless --debug."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pinpipe.cli import main
from pinpipe.errors import PinpipeError
from pinpipe.settings import Settings, get_settings

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


def test_stats_on_an_empty_home_says_to_init_and_creates_nothing(home: Path, capsys: pytest.CaptureFixture[str]):
    """Issue 18: `source stats` on a missing database used to exit 0 and create an empty file."""
    assert main(["source", "stats"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "pinpipe source init" in err
    assert not (home / "source.db").exists()


def _command_paths() -> list[tuple[str, ...]]:
    """Every command of the tree, groups included, as the words that reach it."""
    import typer.main
    from typer.core import TyperGroup

    from pinpipe.cli import app

    paths: list[tuple[str, ...]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        paths.append(path)
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return paths


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Help as on a wide terminal, so no type is folded over two lines of its column."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.usefixtures("wide")
def test_no_help_shows_a_type_for_a_flag(capsys: pytest.CaptureFixture[str]):
    """A flag takes no value: `--serve`, never `--serve <bool>` (typer 0.29's rich help shows one)."""
    paths = _command_paths()
    assert ("demo",) in paths and ("batch", "run") in paths and ("sink", "run") in paths
    for path in paths:
        assert main([*path, "--help"]) == 0, path
        out = capsys.readouterr().out
        assert "<bool>" not in out, f"pinpipe {' '.join(path)} --help shows <bool>"
        assert re.search(r"--help +Show this message", out), path
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"--serve +Keep the gateway", out), out
    assert re.search(r"--port +<int> +Gateway port", out), "an option that takes a value still shows its type"
    from pinpipe.sink.command import main as sink_main  # python -m pinpipe.sink: its own entry point

    assert sink_main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "<bool>" not in out and re.search(r"--until-idle +Return once", out), out


@pytest.mark.usefixtures("wide")
def test_fixed_choices_are_listed_and_checked_before_any_work(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from pinpipe.batch import job
    from pinpipe.cli.batch import BatchEngine
    from pinpipe.engines import ENGINES

    assert tuple(BatchEngine) == ENGINES
    assert main(["batch", "run", "--help"]) == 0
    assert "<duckdb|spark>" in capsys.readouterr().out
    assert main(["api", "--help"]) == 0
    assert "<critical|error|warning|info|debug|trace>" in capsys.readouterr().out

    def listed(*args: object, **kwargs: object) -> None:
        raise AssertionError("the lake was opened for an unknown engine")

    monkeypatch.setattr(job, "open_lake", listed)
    assert main(["batch", "run", "--all", "--engine", "pandas"]) == 2
    assert "'pandas' is not one of 'duckdb', 'spark'" in capsys.readouterr().err
    with pytest.raises(PinpipeError, match="unknown engine 'pandas'"):  # the DAG's and Python callers' way in
        job.run_batch(get_settings(), None, "pandas")
    assert main(["api", "--log-level", "loud"]) == 2
    assert "'loud' is not one of" in capsys.readouterr().err


def test_every_seed_has_one_default(capsys: pytest.CaptureFixture[str]):
    import typer.main

    from pinpipe.cli import app
    from pinpipe.source.defaults import DEFAULT_SEED

    root = typer.main.get_command(app)
    seeded = [path for path in _command_paths() if path and any(p.name == "seed" for p in _params(root, path))]
    assert sorted(seeded) == [("demo",), ("emulate", "batch"), ("emulate", "stream"), ("source", "init")]
    for path in seeded:
        (seed,) = (p for p in _params(root, path) if p.name == "seed")
        assert seed.default == DEFAULT_SEED, path
        assert main([*path, "--help"]) == 0
        assert f"[default: {DEFAULT_SEED}]" in capsys.readouterr().out, path


def _params(root: object, path: tuple[str, ...]) -> list[Any]:
    command: Any = root
    for name in path:
        command = command.commands[name]
    return list(command.params)


def test_emulate_all_with_events_is_refused_in_one_line(home: Path, capsys: pytest.CaptureFixture[str]):
    """--all sends every event once: with --events it would silently send that many instead."""
    assert main(["emulate", "batch", "--all", "--events", "5", "--api", "http://127.0.0.1:9"]) == 2
    assert capsys.readouterr().err == (
        "error: --all sends every event once and --events 5 sends 5 at random: give one of them\n"
    )
    assert not home.exists(), "refused before the source was opened"


def test_demo_takes_home_before_or_after_the_verb(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """`pinpipe demo` suggests `--home DIR`; both `pinpipe demo --home DIR` and `pinpipe --home DIR demo` work."""
    from pinpipe.demo import run as demo_run

    homes: list[Path] = []

    class Recorder:
        def __init__(self, settings: Settings, *args: object) -> None:
            homes.append(settings.home)

        def run(self, **kwargs: object) -> None:
            return None

    monkeypatch.setattr(demo_run, "Demo", Recorder)
    elsewhere = tmp_path / "elsewhere"
    assert main(["demo", "--home", str(elsewhere)]) == 0
    assert main(["--home", str(elsewhere), "demo"]) == 0
    assert main(["--home", str(elsewhere), "demo", "--home", str(elsewhere)]) == 0
    assert main(["demo"]) == 0
    assert [p.resolve() for p in homes] == [elsewhere.resolve()] * 3 + [home.resolve()]
    assert main(["--home", str(home), "demo", "--home", str(elsewhere)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--home is given twice" in err
    assert len(homes) == 4


def test_api_on_a_busy_port_is_one_line_before_uvicorn(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    import socket

    import uvicorn

    def serve(*args: object, **kwargs: object) -> None:
        raise AssertionError("uvicorn was started on a busy port")

    monkeypatch.setattr(uvicorn, "run", serve)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for args in (["api", "--port", str(port)], ["api", "--port", str(port), "--workers", "2"]):
            assert main(args) == 1
            err = capsys.readouterr().err
            assert err.startswith(f"error: port {port} is in use on 127.0.0.1 (") and err.count("\n") == 1, err
            assert "--port" in err and "PINPIPE_API_PORT" in err
        monkeypatch.setenv("PINPIPE_API_PORT", str(port))
        assert main(["api"]) == 1
        assert f"port {port} is in use" in capsys.readouterr().err


def test_api_checks_the_port_as_uvicorn_binds_it(home: Path) -> None:
    """A free port passes (and stays free); an address this machine does not have is one line too."""
    from pinpipe.cli.api import check_bind
    from pinpipe.errors import ConfigError

    with socket_on_free_port() as port:
        pass
    check_bind("127.0.0.1", port)
    check_bind("127.0.0.1", port)  # let go again: a second check (and uvicorn) can bind it
    with pytest.raises(ConfigError, match=r"cannot listen on 192\.0\.2\.1 port"):
        check_bind("192.0.2.1", port)  # TEST-NET-1: never an address of this machine


@contextlib.contextmanager
def socket_on_free_port() -> Iterator[int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
