"""Stream job: latency at 1,000 events/s, then unthrottled throughput (issue 7).

Phase 1 (latency): ``pinpipe emulate stream --rate 1000`` posts through a real ``pinpipe api`` into the
embedded log for ``--seconds`` (default 60) while the stream job runs in this process. Latency per
record = Delta commit returned (rows visible to any reader) − the record's log timestamp (set at
append, just before the gateway acknowledges): an upper bound of acknowledgement → visible. Target:
p99 < 2 s.

Phase 2 (throughput): on a 200,000-event source (so most records are rows to write, not duplicates),
the emulator unthrottled (``--rate 0``, 500-record PutRecords) fills the log for
``--seconds / 2``, then the job drains that backlog; the sustained figure is records committed / time
from the first to the last commit (process start-up and the ind-set rebuild excluded, reported apart).
Target: >= 20,000 records/s. Everything shares the machine's cores (gateway, emulator, job).

Run: ``python bench/stream.py [--seconds 60] [--rows 11000]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.gateway import Gateway
from tests.support.processes import PINPIPE

from bench._common import Metric, Result, at_least, at_most, peak_rss_mb

LATENCY_TARGET_MS = 2000.0
THROUGHPUT_TARGET = 20_000.0
BASELINE = "Spark Structured Streaming micro-batches, ~100 ms at best (published)"
BASELINE_VALUE_MS = 100.0


def emulate(
    env: dict[str, str], url: str, log: Path, *, rate: float, seconds: float, batch_size: int
) -> subprocess.Popen[bytes]:
    """The emulator as a subprocess; its output goes to ``log`` (a pipe nobody reads would fill up)."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [PINPIPE, "emulate", "stream", "--rate", str(rate), "--duration", str(seconds), "--seed", "1",
             "--batch-size", str(batch_size), "--concurrency", "8", "--api", url],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip


def run_job_while(emulator: subprocess.Popen[bytes], settings: object, **options: object) -> object:
    """Run the stream job in this thread until the emulator exits and the log is drained."""
    from pinpipe.stream.engine import StreamJob, StreamOptions

    job = StreamJob(settings, StreamOptions(status=False, **options))

    def watch() -> None:
        emulator.wait()
        job.options.until_idle = True  # finish what the emulator sent, then return

    threading.Thread(target=watch, daemon=True).start()
    return job.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="Latency phase length (throughput: half).")
    parser.add_argument("--rows", type=int, default=11_000, help="Events in the source (latency phase).")
    parser.add_argument("--backlog-rows", type=int, default=200_000, help="Events in the source (throughput phase).")
    args = parser.parse_args(argv)

    from pinpipe.settings import get_settings

    result = Result(
        bench="stream",
        title="Stream job: emulator → gateway → embedded log → stream job → Delta",
        command=f"python bench/stream.py --seconds {args.seconds:g}",
    )
    with tempfile.TemporaryDirectory(prefix="pinpipe-bench-stream-") as tmp:
        home = Path(tmp) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
        env["PINPIPE_HOME"] = str(home)
        os.environ.update({"PINPIPE_HOME": str(home)})
        subprocess.run([PINPIPE, "source", "init", "--rows", str(args.rows), "--seed", "1"], env=env, check=True,
                       capture_output=True)  # fmt: skip
        gateway = Gateway(home, base_env=env).start()
        url = gateway.url
        try:
            settings = get_settings(home=home)
            # Phase 1: latency at a fixed 1,000 events/s (3,000 records/s).
            emulator = emulate(env, url, home / "emulate-1.log", rate=1000, seconds=args.seconds, batch_size=20)
            latency = run_job_while(emulator, settings, max_batch_ms=250)
            p50, p99 = latency.latency.percentile(50), latency.latency.percentile(99)
            assert p50 is not None and p99 is not None, "no record reached Delta"
            offered = latency.records / max(latency.seconds, 1e-9)
            result.add(Metric("latency p50, ack → visible in Delta (1,000 events/s)", p50, "ms"))
            target, passed = at_most(p99, LATENCY_TARGET_MS)
            result.add(
                Metric(
                    "latency p99, ack → visible in Delta (1,000 events/s)",
                    p99,
                    "ms",
                    target=target,
                    passed=passed,
                    baseline=BASELINE,
                    baseline_value=BASELINE_VALUE_MS,
                    ratio=p99 / BASELINE_VALUE_MS,
                )
            )
            batches = sorted(latency.batch_latency_ms)
            result.add(Metric("oldest record per batch, p99", batches[int(0.99 * (len(batches) - 1))], "ms"))
            result.notes.append(
                f"latency phase: {latency.records:,} records in {latency.seconds:.1f} s "
                f"({offered:,.0f} records/s), {latency.batches:,} micro-batches of at most 250 ms"
            )

            # Phase 2: unthrottled. The emulator fills a backlog as fast as the gateway takes it, then
            # the job drains it: first to last commit is the sustained rate (start-up excluded).
            # A larger source, so the backlog is mostly events the tables do not hold yet (rows to
            # write, not duplicates to skip, which would flatter the figure).
            subprocess.run([PINPIPE, "source", "init", "--replace", "--rows", str(args.backlog_rows), "--seed", "2"],
                           env=env, check=True, capture_output=True)  # fmt: skip
            filled = time.monotonic()
            emulator = emulate(env, url, home / "emulate-2.log", rate=0, seconds=args.seconds / 2, batch_size=500)
            if emulator.wait() != 0:
                raise RuntimeError((home / "emulate-2.log").read_text()[-2000:])
            fill_s = time.monotonic() - filled
            commits: list[tuple[float, int]] = []
            from pinpipe.stream.engine import StreamJob, StreamOptions

            job = StreamJob(
                settings,
                StreamOptions(status=False, until_idle=True, max_batch_records=50_000, max_batch_ms=500),
                on_commit=lambda s: commits.append((time.monotonic(), s.records)),
            )
            started = time.monotonic()
            drain = job.run()
            assert len(commits) >= 2, "the backlog drained in fewer than two micro-batches"
            (t0, n0), (t1, n1) = commits[0], commits[-1]
            rate = (n1 - n0) / (t1 - t0)
            target, passed = at_least(rate, THROUGHPUT_TARGET)
            result.add(
                Metric(
                    "sustained records/s into Delta (backlog, first to last commit)",
                    rate,
                    "records/s",
                    target=target,
                    passed=passed,
                )
            )
            result.add(Metric("drain incl. job start-up", drain.records / (t1 - started), "records/s"))
            result.add(Metric("gateway intake, emulator unthrottled", drain.records / fill_s, "records/s"))
            result.add(Metric("peak RSS (bench process incl. stream job)", peak_rss_mb(), "MB"))
            result.notes.append(
                f"throughput phase: {drain.records:,} records backlogged in {fill_s:.1f} s, drained in "
                f"{t1 - started:.1f} s ({drain.written:,} rows written, {drain.duplicates:,} duplicates, "
                f"{drain.batches:,} micro-batches of <= 50,000 records)"
            )
        finally:
            gateway.stop(timeout=30)
    path = result.write()
    for metric in result.metrics:
        verdict = "" if metric.passed is None else (" PASS" if metric.passed else " FAIL")
        print(f"{metric.name}: {metric.value:,.1f} {metric.unit}{verdict}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
