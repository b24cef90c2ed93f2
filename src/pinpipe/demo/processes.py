"""The demo's process tree: the gateway, the sink and the stream job as child processes.

Each child runs in its own process group, so a Ctrl-C in the terminal reaches only the demo, which
then stops the children in order (SIGTERM: each finishes and commits what it holds; SIGKILL after a
timeout). On Linux each child also gets SIGTERM from the kernel if the demo itself dies (even by
SIGKILL), so nothing is left running behind a crashed demo. Children are started with fork+exec,
never a bare fork, because deltalake panics in a forked child of a process that used it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pinpipe.errors import PinpipeError

STOP_TIMEOUT_S = 20.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux for SIGTERM when the parent goes away."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildExitedError(PinpipeError):
    """A part of the pipeline stopped on its own; the message carries the end of its output."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, wait, then SIGKILL; returns the exit status."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(timeout=timeout)
        return self.proc.returncode


class ProcessTree:
    """Children started here are stopped on exit (normal, error or Ctrl-C), last started first."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.children: dict[str, Child] = {}

    def start(self, name: str, argv: list[str]) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                process_group=0,
                preexec_fn=_die_with_parent,
            )
        child = Child(name, proc, log_path)
        self.children[name] = child
        return child

    def check(self) -> None:
        """Raise if a child has exited while the pipeline still needs it."""
        for child in self.children.values():
            code = child.proc.poll()
            if code is not None:
                raise ChildExitedError(
                    f"the {child.name} stopped unexpectedly (exit {code}); its last output:\n{child.tail()}",
                    hint=f"full output in {child.log_path}",
                )

    def stop(self, name: str) -> int | None:
        child = self.children.pop(name, None)
        return None if child is None else child.stop()

    def close(self) -> None:
        for name in reversed(list(self.children)):
            self.stop(name)

    def __enter__(self) -> ProcessTree:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def python_command(*args: str) -> list[str]:
    """Run a module with this interpreter (the venv the demo itself runs in)."""
    return [sys.executable, *args]


def pinpipe_command(*args: str) -> list[str]:
    """The ``pinpipe`` CLI of this interpreter."""
    script = Path(sys.executable).with_name("pinpipe")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from pinpipe.cli import run; run()", *args]


def child_env(**pinpipe: str) -> dict[str, str]:
    """The demo's environment plus ``PINPIPE_<NAME>`` settings, so every child sees the same home."""
    env = dict(os.environ)
    env.update({f"PINPIPE_{k.upper()}": v for k, v in pinpipe.items()})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
