"""What every benchmark shares: the result file format, machine facts, peak RSS.

Each benchmark writes ``bench/results/<name>.json``; ``bench/render.py`` turns all of them into
``docs/PERFORMANCE.md``, so figures in the docs always come from the latest recorded run.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass
class Metric:
    """One figure. ``target`` is the issue's goal as text (">= 50000"); ``ratio`` is value / baseline."""

    name: str
    value: float
    unit: str
    target: str | None = None
    passed: bool | None = None
    baseline: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    note: str | None = None


@dataclass
class Result:
    bench: str
    title: str
    command: str
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def add(self, metric: Metric) -> Metric:
        self.metrics.append(metric)
        return metric

    def write(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.bench}.json"
        payload: dict[str, Any] = asdict(self)
        payload["machine"] = machine()
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
        os.replace(tmp, path)
        return path


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "git": _git_rev(),
    }


def _git_rev() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size of this process (or its waited-for children), in MB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024.0


def at_least(value: float, target: float) -> tuple[str, bool]:
    return f">= {target:g}", value >= target


def at_most(value: float, target: float) -> tuple[str, bool]:
    return f"<= {target:g}", value <= target


WRK_SCRIPT = """
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "{method}"
wrk.headers["Content-Type"] = "{content_type}"
"""
_LATENCY_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def has_wrk(script: str) -> bool:
    """Whether wrk is installed; if not, says so for ``script`` (request rates need it)."""
    if shutil.which("wrk") is not None:
        return True
    print(f"{script} needs wrk for request rates: apt-get install -y wrk", file=sys.stderr)
    return False


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured: requests/s, requests sent, non-2xx answers, p99 latency in ms."""

    rate: float
    total: int
    bad: int
    p99_ms: float


def wrk(
    url: str,
    work: Path,
    name: str,
    method: str,
    content_type: str,
    body: bytes,
    *,
    connections: int = 8,
    seconds: int = 10,
) -> WrkRun:
    """Run wrk (two threads) for ``seconds`` with ``connections`` open, each sending ``body``."""
    body_file = work / f"{name}.body"
    body_file.write_bytes(body)
    script = work / f"{name}.lua"
    script.write_text(WRK_SCRIPT.format(body=body_file, method=method, content_type=content_type))
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if rate is None or total is None or p99 is None:
        raise RuntimeError(f"wrk printed what this cannot read:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkRun(
        rate=float(rate.group(1)),
        total=int(total.group(1)),
        bad=int(bad.group(1)) if bad else 0,
        p99_ms=float(p99.group(1)) * _LATENCY_UNITS[p99.group(2)],
    )


def embedded_gateway(work: Path, settings: dict[str, str] | None = None) -> Any:
    """``pinpipe api`` on the embedded log in ``work/home`` (or on what ``settings``, PINPIPE_*
    variables, say), none of this shell's PINPIPE_* settings applied (a
    :class:`tests.support.gateway.Gateway`, not started)."""
    from tests.support.gateway import Gateway
    from tests.support.processes import PINPIPE

    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")} | (settings or {})
    cmd = [PINPIPE] if Path(PINPIPE).exists() else [sys.executable, "-c", "from pinpipe.cli import run; run()"]
    return Gateway(work / "home", base_env=env, log_path=work / "gateway.log", command=cmd)
