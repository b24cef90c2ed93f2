"""The demo's run order, with its steps replaced by recorders: what is opened is closed, in reverse.

The real end-to-end run (gateway, sink and stream job as child processes) is tests/integration/test_demo.py;
this checks what holds the steps together — the order they run in, and that an error or Ctrl-C on the
way closes this process's log handles before the children are stopped, and puts SIGTERM's handler back.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from pinpipe.demo import run as demo_run
from pinpipe.demo.run import Demo, DemoOptions, DemoResult
from pinpipe.errors import PinpipeError
from pinpipe.settings import get_settings


class _Tree:
    """Stands in for the ProcessTree: records that it was closed."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def __enter__(self) -> _Tree:
        self.calls.append("tree open")
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls.append("tree closed")


def _recording_demo(
    monkeypatch: pytest.MonkeyPatch, home: Path, *, serve: bool, fail_in: str | None = None
) -> tuple[Demo, list[str]]:
    calls: list[str] = []

    def step(name: str, result: Any = None) -> Any:
        def record(*args: object, **kwargs: object) -> Any:
            calls.append(name)
            if name == fail_in:
                raise PinpipeError(f"{name} failed")
            return result

        return record

    @contextlib.contextmanager
    def status_logs(*args: object) -> Iterator[None]:
        calls.append("logs open")
        try:
            yield
        finally:
            calls.append("logs closed")

    monkeypatch.setattr(demo_run, "ProcessTree", lambda *args: _Tree(calls))
    monkeypatch.setattr(demo_run, "_status_logs", status_logs)
    monkeypatch.setattr(demo_run, "PipelineStatus", lambda *args: object())
    result = DemoResult(summary={}, report=home / "report.html", insights={}, url="http://x")
    demo = Demo(get_settings(), DemoOptions(serve=serve), Console(file=None, quiet=True))
    for name, value in (
        ("_prepare", (8080, "http://127.0.0.1:8080")),
        ("_start_pipeline", object()),
        ("_flow", []),
        ("_stop_pipeline", None),
        ("_batch", object()),
        ("_finish", result),
        ("_serve", None),
    ):
        monkeypatch.setattr(demo, name, step(name, value))
    return demo, calls


def test_the_steps_run_in_order_and_everything_opened_is_closed(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    demo, calls = _recording_demo(monkeypatch, home, serve=False)
    ready: list[DemoResult] = []
    demo.run(on_ready=ready.append)
    assert calls == [
        "_prepare",
        "tree open",
        "_start_pipeline",
        "logs open",
        "_flow",
        "_stop_pipeline",
        "_batch",
        "_finish",
        "logs closed",
        "tree closed",
    ]
    assert len(ready) == 1 and "batch" in demo.phases


def test_serve_keeps_the_children_up_until_it_returns(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    demo, calls = _recording_demo(monkeypatch, home, serve=True)
    demo.run()
    assert calls[-4:] == ["_finish", "_serve", "logs closed", "tree closed"]
    assert "_stop_pipeline" not in calls


@pytest.mark.parametrize("fail_in", ["_start_pipeline", "_flow", "_batch"])
def test_an_error_closes_the_logs_then_stops_the_children(
    monkeypatch: pytest.MonkeyPatch, home: Path, fail_in: str
) -> None:
    before = signal.getsignal(signal.SIGTERM)
    demo, calls = _recording_demo(monkeypatch, home, serve=False, fail_in=fail_in)
    with pytest.raises(PinpipeError, match=f"{fail_in} failed"):
        demo.run()
    assert calls[calls.index(fail_in) + 1 :] == (
        ["tree closed"] if fail_in == "_start_pipeline" else ["logs closed", "tree closed"]
    )
    assert signal.getsignal(signal.SIGTERM) == before


def test_sigterm_ends_the_run_like_ctrl_c(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """``kill <demo>`` stops the pipeline in order too, as the terminal's Ctrl-C does."""
    demo, calls = _recording_demo(monkeypatch, home, serve=False)

    def terminated(*args: object) -> None:
        calls.append("_flow")
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(demo, "_flow", terminated)
    with pytest.raises(KeyboardInterrupt):
        demo.run()
    assert calls[calls.index("_flow") + 1 :] == ["logs closed", "tree closed"]


@pytest.mark.parametrize(("events", "rows", "repeats"), [(20, 10, 10), (10, 10, None), (12_000, None, 1_000)])
def test_more_events_than_the_source_holds_is_said(
    home: Path, events: int, rows: int | None, repeats: int | None
) -> None:
    """Allowed (the demo doubles as a load test) but never silent: events then repeat."""
    out = io.StringIO()
    demo = Demo(get_settings(), DemoOptions(events=events, rows=rows), Console(file=out, width=300))
    demo._warn_repeats()
    if repeats is None:
        assert out.getvalue() == "" and demo.notes == []
    else:
        shown = f"{events:,}"
        assert out.getvalue() == (
            f"warning: each emulator sends {shown} events drawn from the source's {events - repeats:,}, so at least "
            f"{repeats:,} of them repeat (merged on ind downstream); --rows {events} makes room for them all\n"
        )
        assert demo.notes == [out.getvalue().rstrip("\n")]


def test_the_warning_comes_before_any_work(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    demo, calls = _recording_demo(monkeypatch, home, serve=False)
    demo.options.events, demo.options.rows = 50, 10
    monkeypatch.setattr(demo, "_warn_repeats", lambda: calls.append("_warn_repeats"))
    demo.run()
    assert calls[:2] == ["_warn_repeats", "_prepare"]


def test_a_busy_port_is_refused_before_the_home_is_touched(home: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        demo = Demo(get_settings(), DemoOptions(port=port), Console(file=io.StringIO()))
        with pytest.raises(PinpipeError, match=f"port {port} on 127.0.0.1 is in use"):
            demo._prepare()
    assert not home.exists(), "neither wiped nor filled for a run that cannot start"
