"""Process plumbing every long-running command and entry point shares: stop signals and the CLI runner.

Written once so that every process stops the same way and ends the same way:

- a **graceful stop**: SIGTERM or a first Ctrl-C ask the work to finish what it holds and return (the
  sink finishes the file being written, the stream job commits the batch in hand); a second Ctrl-C
  interrupts at once. The demo, which owns a process tree, instead turns SIGTERM into the Ctrl-C it
  already handles by stopping its children in order.
- the **CLI runner**: ``pinpipe``, ``python -m pinpipe.sink`` (which starts without importing the
  other verbs) and the demo's ``python -m pinpipe.demo.stream_worker`` all end through
  :func:`run_main`, so a user error is one line on stderr and an exit code in each, and ``--debug``
  shows the traceback in each.

It sits in the foundation (it imports only :mod:`pinpipe.errors`), because the sink may not import
``pinpipe.cli`` and importing ``pinpipe.cli`` would load every verb.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from pinpipe.errors import PinpipeError

if TYPE_CHECKING:
    import typer

SignalHandler = Callable[[int, FrameType | None], None]


class PidLockHeld(Exception):
    """Another live process holds the lock; ``holder`` is the pid it wrote ("?" if none)."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"held by pid {holder}")
        self.holder = holder


def take_pid_lock(path: Path) -> int:
    """Take the exclusive ``flock`` at ``path`` at once and write this process's pid into it; returns
    the open descriptor, whose closing releases the lock (so does the kernel when the process dies,
    SIGKILL included: a lock is never stale). The descriptor is not inherited by child processes.
    The sink's group lock and the stream job's warehouse lock both stand on this."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise PidLockHeld(holder) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pid_lock_held(path: Path) -> bool:
    """Whether a live process holds the lock at ``path`` (a missing or unreadable file: no)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextmanager
def _handling(handler: SignalHandler, *signums: signal.Signals) -> Iterator[None]:
    """Install ``handler`` for the block and put the previous handlers back after it.

    Python delivers signals to the main thread only, and only it may install handlers; elsewhere (the
    stream job inside the gateway's process) nothing is installed and the thread's owner stops it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextmanager
def graceful_stop(stop: threading.Event | None = None) -> Iterator[threading.Event]:
    """SIGTERM or a first Ctrl-C set ``stop`` (a new event if none is given); a second Ctrl-C raises
    KeyboardInterrupt, for the user who will not wait for the work in hand."""
    event = stop if stop is not None else threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and event.is_set():
            raise KeyboardInterrupt
        event.set()

    with _handling(handle, signal.SIGTERM, signal.SIGINT):
        yield event


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt as Ctrl-C does, so one ``except``/``finally`` path handles both."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    with _handling(interrupt, signal.SIGTERM):
        yield


@contextmanager
def native_stderr_into(log: Path) -> Iterator[None]:
    """Route what native libraries print on file descriptor 2 to ``log``, and keep the terminal pinpipe's.

    delta-rs's Rust runtime writes straight to fd 2: a worker thread that panics while the call that
    started it fails (seen on a full disk: three ``thread 'tokio-rt-worker' panicked … Already shut
    down`` dumps before the error) prints its panic there, whatever Python does. While this holds, fd 2
    is ``log`` and Python's own stderr (rich, typer, the final error line) a copy of the terminal's
    descriptor. A log that cannot be opened leaves everything as it was.
    """
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        target = open(log, "ab")  # noqa: SIM115  # held until fd 2 points at it
    except OSError:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(saved, "w", buffering=1, errors="backslashreplace", closefd=False)
    previous = sys.stderr
    with target:
        os.dup2(target.fileno(), 2)
    sys.stderr = terminal
    try:
        yield
    finally:
        terminal.flush()
        sys.stderr = previous
        os.dup2(saved, 2)
        terminal.close()
        os.close(saved)


def run_cli(app: typer.Typer, prog_name: str, argv: list[str] | None = None) -> int:
    """Run a Typer app to its exit code, through :func:`run_main`.

    Typer vendors its own click, so usage errors are left to its standalone mode (usage text, exit 2,
    a ``SystemExit`` here) and only pinpipe's own errors and unexpected ones become one line.
    """
    import typer.main

    args = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)

    def invoke() -> None:
        command.main(args=args, prog_name=prog_name, standalone_mode=True)

    return run_main(invoke, debug="--debug" in args)


def run_main(main: Callable[[], object], *, debug: bool = False) -> int:
    """Run an entry point to its exit code: known errors print one line on stderr; ``debug`` re-raises.

    ``main`` may return its exit code (an int), or nothing for 0, or raise ``SystemExit``.
    """
    import typer  # here, not at the top: the stop helpers above are imported by jobs that never print

    try:
        returned = main()
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except PinpipeError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:
        if debug:
            raise
        # Library messages can run to many lines (object_store's error chains): the first says what.
        lines = str(exc).strip().splitlines() or [""]
        rest = "the whole message and the traceback" if len(lines) > 1 else "the traceback"
        typer.echo(f"error: {type(exc).__name__}: {lines[0]} (run with --debug for {rest})", err=True)
        return 1
    return returned if isinstance(returned, int) else 0
