"""``pinpipe api`` as a subprocess, for tests and benchmarks: started as users start it, on a free
127.0.0.1 port with a given PINPIPE_HOME and environment, ready once ``/health`` answers 200 (a
bounded wait), stopped by its PID — gracefully (SIGTERM) or not (SIGKILL) — and startable again on
the same port. Its output (stdout and stderr) is appended to ``log_path``.

    with Gateway(home, {"PINPIPE_PREFIX": prefix}) as gateway:
        post(f"{gateway.url}/topics/...")
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from tests import services
from tests.support.processes import PINPIPE, terminate

#: How long a start may take before /health answers (a cold start imports FastAPI and opens the log).
HEALTH_TIMEOUT_S = 60.0


class Gateway:
    """``pinpipe api`` that a test may start, SIGKILL, start again on the same port, and stop.

    ``env`` is laid over ``base_env`` (default: this process's environment); ``PINPIPE_HOME`` is
    always ``home``. ``args`` are extra ``pinpipe api`` flags (``--with-stream``); ``command`` is what
    runs ``pinpipe`` (default: the console script, :data:`PINPIPE`).
    """

    def __init__(
        self,
        home: Path,
        env: Mapping[str, str] | None = None,
        *,
        base_env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        log_path: Path | None = None,
        port: int | None = None,
        command: Sequence[str] = (PINPIPE,),
    ) -> None:
        self.port = port if port is not None else services.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**(os.environ if base_env is None else base_env), **(env or {}), "PINPIPE_HOME": str(home)}
        self.argv = [*command, "api", "--port", str(self.port), "--log-level", "warning", *args]
        self.log_path = log_path if log_path is not None else home / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the gateway was never started"
        return self.proc.pid

    def start(self, timeout: float = HEALTH_TIMEOUT_S) -> Gateway:
        """Start it and return once ``/health`` answers 200; fails if it exits or ``timeout`` passes first."""
        self.launch()
        services.wait_until(self._healthy, timeout=timeout, what=f"pinpipe api (log: {self.log_path})")
        return self

    def launch(self) -> Gateway:
        """Start the process and return at once (for a gateway that should come up with its log down)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        return self

    def health(self) -> httpx.Response | None:
        """Its ``/health`` answer, or None while it does not answer (fails if the process exited)."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"pinpipe api exited {self.proc.returncode}: {self.tail()}")
        try:
            return httpx.get(f"{self.url}/health", timeout=1)
        except httpx.HTTPError:
            return None

    def _healthy(self) -> bool:
        answer = self.health()
        return answer is not None and answer.status_code == 200

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, requests in flight are cut wherever they are."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM (graceful: requests in flight finish, the log is closed) and its exit status; a gateway
        that ignores it for ``timeout`` seconds is SIGKILLed and fails the caller."""
        assert self.proc is not None
        return terminate(self.proc, "pinpipe api", self.tail, timeout)

    def stop(self, timeout: float = 10) -> None:
        """Teardown: SIGTERM, then SIGKILL after ``timeout`` seconds; quiet when it is already gone."""
        if self.proc is not None:
            services.stop(self.proc, timeout=timeout)

    def tail(self, chars: int = 2000) -> str:
        """The end of its output, for failure messages."""
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


class GatewayURL(str):
    """A running gateway's base URL (``http://127.0.0.1:PORT``) that also carries its process."""

    proc: subprocess.Popen[bytes]

    @classmethod
    def of(cls, gateway: Gateway) -> GatewayURL:
        assert gateway.proc is not None
        url = cls(gateway.url)
        url.proc = gateway.proc
        return url
