"""Process plumbing: the graceful stop every long-running command shares, and the one CLI runner.

Signals are sent to this very process (``os.kill(os.getpid(), …)``): Python runs the handler between
bytecodes of the main thread, so each assertion after a ``kill`` sees the handler's effect.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

import pytest
import typer

from pinpipe.errors import ConfigError, PinpipeError
from pinpipe.process import graceful_stop, run_cli, run_main, sigterm_as_interrupt


def _handlers() -> tuple[object, object]:
    return signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)


def test_sigterm_or_a_first_ctrl_c_ask_for_a_stop_and_a_second_ctrl_c_interrupts() -> None:
    before = _handlers()
    with graceful_stop() as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)  # more SIGTERMs keep asking, never interrupt
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert _handlers() == before, "the previous handlers are put back"

    with graceful_stop() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert _handlers() == before


def test_graceful_stop_sets_the_event_it_is_given() -> None:
    """The stream job hands its own event over: its stop() and a signal end the same loop."""
    mine = threading.Event()
    with graceful_stop(mine) as stop:
        assert stop is mine
        os.kill(os.getpid(), signal.SIGTERM)
    assert mine.is_set()


def test_off_the_main_thread_nothing_is_installed() -> None:
    """The stream job inside the gateway runs in a thread; the gateway owns the process's signals."""
    before = _handlers()
    seen: list[object] = []

    def work() -> None:
        with graceful_stop() as stop:
            seen.append(_handlers())
            seen.append(stop.is_set())
        with sigterm_as_interrupt():
            seen.append(_handlers())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=10)
    assert seen == [before, False, before]


def test_sigterm_as_interrupt_raises_keyboard_interrupt_and_restores() -> None:
    before = _handlers()
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert _handlers() == before


def _raising(exc: BaseException) -> Callable[[], None]:
    def main() -> None:
        raise exc

    return main


@pytest.mark.parametrize(
    ("main", "code", "err"),
    [
        (lambda: None, 0, ""),
        (lambda: 3, 3, ""),
        (_raising(SystemExit(2)), 2, ""),
        (_raising(SystemExit("usage")), 1, ""),
        (_raising(ConfigError("bad value", hint="use 1")), 1, "error: bad value (use 1)\n"),
        (_raising(KeyboardInterrupt()), 130, "interrupted\n"),
        (
            _raising(RuntimeError("boom")),
            1,
            "error: RuntimeError: boom (run with --debug for the traceback)\n",
        ),
    ],
)
def test_run_main_ends_every_way_in_an_exit_code_and_at_most_one_line(
    main: Callable[[], object], code: int, err: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(main) == code
    captured = capsys.readouterr()
    assert captured.err == err and captured.out == ""


def test_run_main_with_debug_reraises() -> None:
    with pytest.raises(PinpipeError, match="bad value"):
        run_main(_raising(ConfigError("bad value")), debug=True)
    with pytest.raises(RuntimeError, match="boom"):
        run_main(_raising(RuntimeError("boom")), debug=True)


def test_run_cli_runs_a_typer_app_and_leaves_usage_errors_to_click(capsys: pytest.CaptureFixture[str]) -> None:
    app = typer.Typer()

    @app.command()
    def fail(debug: bool = typer.Option(False, "--debug"), times: int = typer.Option(1, min=1)) -> None:
        raise ValueError("broken")

    assert run_cli(app, "tool", ["--times", "2"]) == 1
    assert capsys.readouterr().err == "error: ValueError: broken (run with --debug for the traceback)\n"
    assert run_cli(app, "tool", ["--times", "0"]) == 2
    assert "Usage: tool" in capsys.readouterr().err
    with pytest.raises(ValueError, match="broken"):
        run_cli(app, "tool", ["--debug"])
