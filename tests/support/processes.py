"""The ``pinpipe`` executable tests and benchmarks run, and the child processes they must not leave behind."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

#: The console script of this interpreter's pinpipe install (the command users run).
PINPIPE = str(Path(sys.executable).with_name("pinpipe"))


def descendants(pid: int) -> list[psutil.Process]:
    """Every living descendant of ``pid`` (none when ``pid`` itself is gone)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def child_pids() -> set[int]:
    """This test process's living descendants (zombies already reaped by wait() are gone)."""
    return {c.pid for c in psutil.Process().children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE}


def assert_none_left(pids: Sequence[int], before: set[int]) -> None:
    """No process the test started is alive, and the test has no descendant it did not have before."""
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"processes left behind: {alive}"
    extra = child_pids() - before
    assert extra == set(), f"child processes left behind: {[psutil.Process(p).cmdline() for p in extra]}"


def terminate(
    proc: subprocess.Popen[bytes], name: str, tail: Callable[[], str], timeout: float = 60, *, signalled: bool = False
) -> int:
    """SIGTERM (a graceful stop) and the exit status; a process that ignores it for ``timeout`` seconds
    is SIGKILLed and fails the caller with its log's ``tail``. ``signalled``: the caller has sent the
    SIGTERM already (a deployment stopping everything at once), so only wait — a second SIGTERM could
    land after the graceful stop has put the default handler back and end a clean exit as -15."""
    if proc.poll() is None:
        if not signalled:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
            raise AssertionError(f"{name} ignored SIGTERM for {timeout:.0f}s: {tail()}") from None
    return int(proc.returncode)
