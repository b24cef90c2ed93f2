"""What every benchmark shares: the result file format, machine facts, peak RSS.

Each benchmark writes ``bench/results/<name>.json``; ``bench/render.py`` turns all of them into
``docs/PERFORMANCE.md``, so figures in the docs always come from the latest recorded run.
"""

from __future__ import annotations

import json
import os
import platform
import resource
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
