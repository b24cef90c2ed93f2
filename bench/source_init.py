"""Benchmark: `pinpipe source init --rows 1000000` into a fresh SQLite file.

Targets (issue 2): under 120 s wall time and under 1 GB peak RSS on the project's 2-core machine.
The command runs as a child process, as a user runs it, so the figures include interpreter start-up
and imports; peak RSS is the child's, read with ``getrusage(RUSAGE_CHILDREN)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, Metric, Result, at_most, peak_rss_mb

ROWS = 1_000_000
MAX_SECONDS = 120.0
MAX_RSS_MB = 1024.0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pinpipe-bench-") as tmp:
        home = Path(tmp) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
        env["PINPIPE_HOME"] = str(home)
        args = ["source", "init", "--rows", str(ROWS)]
        code = "import sys; from pinpipe.cli import run; sys.argv = ['pinpipe', *sys.argv[1:]]; run()"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT, timeout=1800)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            print(f"source init failed with exit status {done.returncode}", file=sys.stderr)
            return 1
        rss = peak_rss_mb(children=True)
        size_mb = (home / "source.db").stat().st_size / 1e6

    result = Result(
        bench="source_init",
        title="Source database: generating 1,000,000 events into SQLite",
        command=f"pinpipe source init --rows {ROWS}",
    )
    target, passed = at_most(seconds, MAX_SECONDS)
    result.add(Metric("wall time", round(seconds, 1), "s", target=target, passed=passed))
    target, passed = at_most(rss, MAX_RSS_MB)
    result.add(Metric("peak RSS", round(rss), "MB", target=target, passed=passed))
    result.add(Metric("throughput", round(ROWS / seconds), "events/s", note="3 rows (pin, geo, user) per event"))
    result.add(Metric("database size", round(size_mb), "MB"))
    result.notes.append(
        "One transaction, chunks of 20,000 events generated in pure Python and inserted with executemany; "
        "the time includes interpreter start-up and imports."
    )
    path = result.write()
    for metric in result.metrics:
        verdict = "" if metric.passed is None else ("ok" if metric.passed else "MISSED")
        print(f"{metric.name}: {metric.value:g} {metric.unit} {metric.target or ''} {verdict}")
    print(f"wrote {path}")
    return 0 if all(m.passed is not False for m in result.metrics) else 1


if __name__ == "__main__":
    sys.exit(main())
