"""Peer benchmark: pinpipe's stream job against Spark Structured Streaming, one backlog on one Kafka broker.

``python bench/peers/spark_stream.py [--rows 100000] [--seconds 10]``. One Apache Kafka broker (KRaft,
from the jar cache) is pinpipe's log; ``pinpipe emulate stream --rate 0`` posts through a real gateway for
``--seconds`` into the three stream topics. Then each engine drains that backlog into a warehouse of its
own with ``pinpipe stream run --until-idle``:

- pinpipe's stream job (``--engine python``, micro-batches, its defaults);
- Spark Structured Streaming (``--engine spark --spark-source kafka``: ``spark-sql-kafka`` → the shared
  cleaning SQL → delta-spark with ``txnAppId``/``txnVersion``, ``local[2]``, ``trigger(availableNow)``, the
  trigger Spark's docs give for catching up on a backlog).

Each engine's start-up (interpreter or JVM, Spark session, group join, reading the tables' ``ind`` sets)
is measured by running it a second time once the backlog is drained, with nothing to do; its drain rate
is records ÷ (first run − that second run). Both warehouses must hold the same rows, table for table.
Freshness at 1,000 events/s is measured for pinpipe in bench/stream.py; for Spark it is not measured here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.gateway import Gateway
from tests.support.kafka import start_cluster
from tests.support.processes import PINPIPE

from bench._common import Metric, Result, at_least
from bench.stream import emulate

GOAL = 3.0  # issue 21: the stream job at least 3x Spark Structured Streaming's records/s
ENGINES = {
    "pinpipe stream job": ["--engine", "python", "--quiet"],
    "Spark Structured Streaming": ["--engine", "spark", "--spark-source", "kafka"],
}


def drain(env: dict[str, str], warehouse: Path, args: list[str]) -> float:
    """Wall seconds of one ``stream run --until-idle`` into ``warehouse``."""
    started = time.perf_counter()
    done = subprocess.run([PINPIPE, "stream", "run", "--until-idle", *args], capture_output=True, text=True,
                          env={**env, "PINPIPE_WAREHOUSE_URL": str(warehouse)}, timeout=1800)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"stream run {args} exited {done.returncode}: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def stream_records(env: dict[str, str]) -> int:
    """Records in the three stream topics (what each engine reads)."""
    from pinpipe.log import open_log
    from pinpipe.settings import TABLES, Settings

    settings = Settings(home=Path(env["PINPIPE_HOME"]), log_url=env["PINPIPE_LOG_URL"])
    assert settings.log_url
    log = open_log(settings.log_url, settings)
    try:
        return sum(sum(log.end_offsets(settings.stream(kind)).values()) for kind in TABLES)
    finally:
        log.close()


def same_rows(first: Path, second: Path) -> None:
    from pinpipe.settings import TABLES
    from pinpipe.tables import read_table

    for kind in TABLES:
        a, b = (read_table(str(w / "stream" / kind)) for w in (first, second))
        assert a is not None and b is not None and a.num_rows > 0, kind
        a, b = a.sort_by("ind"), b.sort_by("ind").select(a.column_names)
        if not a.equals(b):
            raise AssertionError(f"stream/{kind}: the engines wrote different rows ({a.num_rows} vs {b.num_rows})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="events in the source")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the emulator fills the backlog")
    args = parser.parse_args(argv)
    result = Result(
        bench="peers_spark_stream",
        title="Stream job vs Spark Structured Streaming, draining one backlog from Apache Kafka",
        command=f"python bench/peers/spark_stream.py --rows {args.rows} --seconds {args.seconds:g}",
    )
    with tempfile.TemporaryDirectory(prefix="pinpipe-bench-spark-stream-") as tmp:
        work = Path(tmp)
        cluster = start_cluster(work / "kafka")
        try:
            home = work / "home"
            env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_") or k == "PINPIPE_JARS_DIR"}
            env.update({"PINPIPE_HOME": str(home), "PINPIPE_LOG_URL": cluster.url})
            subprocess.run([PINPIPE, "source", "init", "--rows", str(args.rows), "--seed", "2"], env=env,
                           check=True, capture_output=True)  # fmt: skip
            gateway = Gateway(home, base_env=env).start()
            try:
                emulator = emulate(env, gateway.url, work / "emulate.log", rate=0, seconds=args.seconds,
                                   batch_size=500)  # fmt: skip
                if emulator.wait() != 0:
                    raise RuntimeError((work / "emulate.log").read_text()[-2000:])
            finally:
                gateway.stop(timeout=30)
            records = stream_records(env)
            walls: dict[str, tuple[float, float]] = {}
            for name, engine_args in ENGINES.items():
                warehouse = work / name.split()[0].lower()
                walls[name] = (drain(env, warehouse, engine_args), drain(env, warehouse, engine_args))
                print(f"{name}: {walls[name][0]:.1f} s, then {walls[name][1]:.1f} s with nothing to do", flush=True)
            same_rows(work / "pinpipe", work / "spark")
        finally:
            cluster.stop_all()
    rates = {name: records / max(full - idle, 1e-9) for name, (full, idle) in walls.items()}
    ours, theirs = rates["pinpipe stream job"], rates["Spark Structured Streaming"]
    for name, rate in rates.items():
        full, idle = walls[name]
        result.add(Metric(f"{name}: drain rate (start-up excluded)", rate, "records/s"))
        result.add(Metric(f"{name}: whole run incl. start-up", full, "s"))
        result.add(Metric(f"{name}: start-up (a run with nothing to do)", idle, "s"))
    share = ours / theirs
    target, ok = at_least(share, GOAL)
    result.add(Metric("pinpipe / Spark Structured Streaming, records/s", share, "×", target, ok,
                      baseline="Spark Structured Streaming", baseline_value=theirs, ratio=share))  # fmt: skip
    result.notes.append(
        f"{records:,} records in the three stream topics (a {args.rows:,}-event source, the emulator unthrottled "
        f"for {args.seconds:g} s through the gateway, so most are repeats the dedupe on ind skips), one Apache "
        "Kafka broker. Both warehouses hold the same rows, table for table. Spark: local[2], pinpipe's Spark "
        "settings, trigger(availableNow). Freshness at 1,000 events/s (the issue's second figure) is measured "
        "for pinpipe only (bench/stream.py), not for Spark: not measured here."
    )
    print(f"pinpipe {ours:,.0f} records/s, Spark {theirs:,.0f} records/s: {share:.2f}x")
    print(f"wrote {result.write()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
