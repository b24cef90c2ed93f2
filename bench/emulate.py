"""Emulator throughput end to end: source DB → emulator → ``pinpipe api`` (subprocess) → embedded log.

Issue 4's target: >= 10,000 events/s (30,000 records/s) on the Kafka REST route with batching on, on
this 2-core machine, where the emulator and the gateway share the cores. The source is generated first
(``pinpipe source init`` rows), the gateway is started as users start it, and every event is sent once
(``--all``); afterwards the log's end offsets must equal the acknowledged records, or the run fails.

Baselines: the seed's emulator (one ``requests.request`` per row with a random 0-2 s sleep between
events: about 1 event/s, from its source), and — measured in this same run — a naive synchronous
httpx client doing what the seed did without the sleeps: one POST per row, one at a time (keep-alive).

The headline figure uses 500-record requests (the CLI default, as TOOLING.md's gateway measurements);
100-record requests are measured too, to show what smaller batches cost.

Run: ``python bench/emulate.py [--events N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.gateway import Gateway

from bench._common import Metric, Result, at_least, peak_rss_mb

TARGET_EVENTS = 10_000.0
SEED_BASELINE = "seed emulator (random 0-2 s sleep per event)"
SEED_EVENTS_PER_S = 1.0
NAIVE_EVENTS = 300


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def naive_events_per_s(source_url: str, api: str, events: int) -> float:
    """The seed's loop without its sleeps, on a kept-alive sync client: one POST per row, one at a time."""
    import httpx
    import orjson

    from pinpipe.emulate.events import SourceReader
    from pinpipe.source.db import open_engine

    reader = SourceReader(open_engine(source_url))
    picked = reader.fetch(list(reader.event_ids()[:events]))
    reader.close()
    headers = {"Content-Type": "application/vnd.kafka.json.v2+json"}
    with httpx.Client(headers=headers) as client:
        started = time.perf_counter()
        for event in picked:
            for kind, row in event.rows.items():
                body = orjson.dumps({"records": [{"value": row}]})
                client.post(f"{api}/topics/pinterest.{kind}", content=body).raise_for_status()
        return len(picked) / (time.perf_counter() - started)


def emulate(route: str, source_url: str, api: str, batch_size: int, concurrency: int) -> tuple[Any, float]:
    """One ``--all`` run; returns its summary and the emulator's CPU seconds."""
    from pinpipe.emulate import EmulateOptions, run_emulator

    options = EmulateOptions(
        route=route,
        source_url=source_url,
        api_url=api,
        every_once=True,
        seed=1,
        batch_size=batch_size,
        concurrency=concurrency,
    )
    cpu = time.process_time()
    summary = run_emulator(options)
    return summary, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    from pinpipe.log import open_log
    from pinpipe.settings import Settings
    from pinpipe.source.db import open_engine
    from pinpipe.source.fill import populate

    result = Result(
        bench="emulate",
        title="Emulator → gateway → embedded log (issue 4)",
        command=f"python bench/emulate.py --events {args.events} --batch-size {args.batch_size}",
    )
    with tempfile.TemporaryDirectory(prefix="pinpipe-bench-emulate-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        settings = Settings(home=home)
        source_url = str(settings.source_url)
        engine = open_engine(source_url)
        populate(engine, rows=args.events, seed=7)
        engine.dispose()
        gateway = Gateway(home).start()
        api = gateway.url
        try:
            gw_cpu = cpu_seconds(gateway.pid)
            batch, emu_cpu = emulate("batch", source_url, api, args.batch_size, args.concurrency)
            gw_cpu = cpu_seconds(gateway.pid) - gw_cpu
            log = open_log(str(settings.log_url), settings)
            in_log = sum(sum(log.end_offsets(settings.topic(k)).values()) for k in ("pin", "geo", "user"))
            log.close()
            if not batch.ok or in_log != batch.records_acknowledged:
                print(f"FAILED: ok={batch.ok} in log {in_log} acked {batch.records_acknowledged}", file=sys.stderr)
                return 1
            small, _ = emulate("batch", source_url, api, 100, args.concurrency)
            stream, _ = emulate("stream", source_url, api, args.batch_size, args.concurrency)
            naive = naive_events_per_s(source_url, api, NAIVE_EVENTS)
        finally:
            gateway.stop(timeout=30)

    target, passed = at_least(batch.events_per_s, TARGET_EVENTS)
    result.add(
        Metric(
            "batch route, events/s end to end",
            batch.events_per_s,
            "events/s",
            target=target,
            passed=passed,
            baseline=SEED_BASELINE,
            baseline_value=SEED_EVENTS_PER_S,
            ratio=batch.events_per_s / SEED_EVENTS_PER_S,
            note=f"--all, {batch.events:,} events, --batch-size {args.batch_size}, --concurrency {args.concurrency}",
        )
    )
    result.add(
        Metric(
            "batch route, records/s acknowledged",
            batch.records_per_s,
            "records/s",
            target=">= 30000",
            passed=batch.records_per_s >= 30_000,
        )
    )
    result.add(
        Metric(
            "naive sync client (one POST per row), events/s",
            naive,
            "events/s",
            baseline="measured in this run",
            note=f"{NAIVE_EVENTS} events",
        )
    )
    result.add(
        Metric(
            "batch route vs naive client",
            batch.events_per_s / naive,
            "x",
            baseline="naive sync client",
            baseline_value=naive,
            ratio=batch.events_per_s / naive,
        )
    )
    result.add(Metric("batch route, --batch-size 100, events/s", small.events_per_s, "events/s"))
    result.add(Metric("batch route, request latency p50", batch.latency_p50_ms or 0.0, "ms"))
    result.add(Metric("batch route, request latency p99", batch.latency_p99_ms or 0.0, "ms"))
    result.add(Metric("emulator CPU per event", emu_cpu / batch.events * 1e6, "µs"))
    result.add(Metric("gateway CPU per event", gw_cpu / batch.events * 1e6, "µs"))
    result.add(Metric("stream route (PutRecords), events/s", stream.events_per_s, "events/s"))
    result.add(Metric("emulator peak RSS", peak_rss_mb(), "MB"))
    result.notes.append(
        "Emulator and gateway share the 2 cores; the log's end offsets were checked to equal the acknowledged "
        f"records ({batch.records_acknowledged:,}). Reading the event ids took {batch.prepare_s:.2f} s before "
        "the clock started."
    )
    path = result.write()
    for metric in result.metrics:
        print(f"{metric.name}: {metric.value:,.1f} {metric.unit}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
