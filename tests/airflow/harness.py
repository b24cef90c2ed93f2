"""Helpers for the Airflow tests, which run in `.venv-airflow` (see `make airflow-test`).

Airflow 3.3 and pinpipe cannot share a virtual environment (Airflow caps fastapi below pinpipe's pin),
so these tests drive real Airflow commands from the Airflow venv and reach pinpipe as the DAG does:
through pinpipe's own executable and Python (in `.venv`). Every subprocess is bounded by a timeout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
SIDE = Path(__file__).with_name("pinpipe_side.py")
AIRFLOW_BIN = Path(sys.executable).with_name("airflow")
PINPIPE_VENV = Path(os.environ.get("PINPIPE_TEST_VENV", REPO / ".venv"))
PINPIPE_PY = PINPIPE_VENV / "bin" / "python"
PINPIPE_BIN = PINPIPE_VENV / "bin" / "pinpipe"


def run(cmd: list[str], *, env: Mapping[str, str] | None = None, timeout: float, cwd: Path | None = None) -> str:
    """Run a command to completion within ``timeout`` s; on failure, fail with its output's tail."""
    try:
        done = subprocess.run(
            cmd,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        tail = exc.output[-4000:] if isinstance(exc.output, str) else (exc.output or b"")[-4000:]
        pytest.fail(f"{' '.join(cmd[:5])} did not finish within {timeout} s; output tail:\n{tail!r}")
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd[:5])} exited {done.returncode}; output tail:\n{done.stdout[-6000:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AirflowSite:
    """One isolated Airflow installation (its own SQLite metadata DB) driving one pinpipe home."""

    root: Path
    report: bool
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def pinpipe_home(self) -> Path:
        return self.root / "pinpipe-home"

    def env(self) -> dict[str, str]:
        """The workers' environment: Airflow config plus the pinpipe Variables the DAG reads at run time."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PINPIPE_", "AIRFLOW"))}
        env.update(
            {
                "AIRFLOW_HOME": str(self.airflow_home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
                "AIRFLOW__CORE__PARALLELISM": "2",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                # The DAG reads these as Airflow Variables (AIRFLOW_VAR_* is one of Variable's sources).
                "AIRFLOW_VAR_PINPIPE_BIN": str(PINPIPE_BIN),
                "AIRFLOW_VAR_PINPIPE_HOME": str(self.pinpipe_home),
                "AIRFLOW_VAR_PINPIPE_REPORT": "on" if self.report else "off",
                "NO_COLOR": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def airflow(self, *args: str, timeout: float = 120) -> str:
        return run([str(AIRFLOW_BIN), *args], env=self.env(), timeout=timeout, cwd=self.root)

    def pinpipe_side(self, *args: str, timeout: float = 60) -> str:
        """Run tests/airflow/pinpipe_side.py with pinpipe's Python against this site's home."""
        return run([str(PINPIPE_PY), str(SIDE), *args, "--home", str(self.pinpipe_home)], timeout=timeout)

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        return json.loads(self.pinpipe_side("dump"))

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read Airflow's metadata DB (read-only) for what Airflow recorded about runs and tasks."""
        conn = sqlite3.connect(f"file:{self.airflow_home / 'airflow.db'}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def task_log_tails(self, chars: int = 1500) -> str:
        logs = sorted((self.airflow_home / "logs").rglob("*.log"))
        return "\n".join(
            f"== {p.relative_to(self.airflow_home)}\n{p.read_text(errors='replace')[-chars:]}" for p in logs
        )

    @contextmanager
    def services(self, timeout: float = 60) -> Iterator[None]:
        """The API server (Airflow 3 tasks report to its execution API) and the scheduler, stopped by PID."""
        api_port, log_port = free_port(), free_port()
        self.extra_env.update(
            {
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
                # Only the backfill's runs: no scheduled run of the scheduler's own for "yesterday".
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            }
        )
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(
                self._spawn(
                    "api-server", [str(AIRFLOW_BIN), "api-server", "--host", "127.0.0.1", "--port", str(api_port)]
                )
            )
            _wait_http(f"http://127.0.0.1:{api_port}/api/v2/version", timeout, procs[0], self.root / "api-server.log")
            procs.append(self._spawn("scheduler", [str(AIRFLOW_BIN), "scheduler"]))
            yield
        finally:
            for proc in reversed(procs):
                _stop(proc)

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        with open(self.root / f"{name}.log", "wb") as out:
            # Its own session, so stopping it ends its workers too, and nothing else.
            return subprocess.Popen(
                cmd, env=self.env(), cwd=self.root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )


def _wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``url`` answers at all (any HTTP status means the server is up), within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url}: the server exited {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen[bytes], grace: float = 30) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)
