"""Sustained load on a real ``pinpipe api`` (embedded log): measure capacity, then hold ~70 % of it.

    python tests/reliability/load.py --seconds 180            # the full run whose figures are in docs/RELIABILITY.md
    python tests/reliability/load.py --seconds 30 --json out.json

1. Start ``pinpipe api`` on a fresh PINPIPE_HOME (a temp folder, removed afterwards).
2. Capacity: ``--probe-seconds`` of closed-loop POSTs (``--concurrency`` requests in flight, each
   ``--records`` pin-like rows on the Kafka REST route) → records/s the gateway sustains with this client.
3. Load: open loop at ``--fraction`` (0.7) of that rate for ``--seconds``: requests are due on a fixed
   schedule (not "as soon as the previous answered"), so a slower gateway shows as latency, not as a
   politely lower rate. Each answer must be 200 with one offset per record.
4. Gateway RSS (its whole process tree) sampled every second; growth is measured from the end of the
   warm-up (the first ``--warmup`` seconds) to the end; p50/p99 latency per third of the run.

Prints one JSON object (and writes it with ``--json``). The test suite runs it for a bounded time
(``tests/reliability/test_load.py``) and asserts only on errors and counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository, for tests.support

from tests.support.gateway import Gateway

TOPIC = "pinterest.pin"
HEADERS = {"Content-Type": "application/vnd.kafka.json.v2+json"}


def body(records: int, seed: int) -> bytes:
    rows = [
        {"value": {"index": seed * records + i, "unique_id": f"{seed:08x}-0000-4000-8000-{i:012x}",
                   "title": "Cosy reading nook ideas 📚", "description": "No description available Story format",
                   "poster_name": "Home Decor Weekly", "follower_count": "12k", "tag_list": "home,decor,reading",
                   "is_image_or_video": "image", "image_src": "https://i.pinimg.com/originals/x.jpg",
                   "downloaded": 1, "save_location": "Local save in /data/home-decor", "category": "home-decor"}}
        for i in range(records)
    ]  # fmt: skip
    return orjson.dumps({"records": rows})


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


@dataclass
class Run:
    sent: int = 0
    ok_records: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (due offset s, latency s)
    slipped: int = 0  # requests sent late because max_in_flight were already waiting
    shed: int = 0  # 429 answers (the gateway's in-flight budget), each sent again after its Retry-After
    # (due offset s, how late the client itself started the request s): the load generator's own lag,
    # so a latency spike can be told apart from a hiccup of the client on the same machine.
    client_lag: list[tuple[float, float]] = field(default_factory=list)
    t0: float = 0.0  # time.monotonic() when the held load began
    # (offset s, duration s) of every fsync/fdatasync on the machine, with --trace-fsync
    fsyncs: list[tuple[float, float]] = field(default_factory=list)
    # (offset s, the machine's CPU times then): busy, iowait and steal per window, to tell a stall of the
    # gateway from the hypervisor taking the cores (steal) or the disk holding them (iowait)
    cpu: list[tuple[float, Any]] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def post(
    client: aiohttp.ClientSession, payload: bytes, records: int, run: Run, t0: float, due: float | None = None
) -> None:
    """One POST; its latency counts from ``due`` (the scheduled moment), so a late send is not hidden.

    A 429 (the gateway's in-flight budget) is sent again after its ``Retry-After``, as every client of the
    gateway does; the wait counts in the latency, so shedding load cannot hide a stall either.
    """
    start = time.monotonic() if due is None else due
    run.sent += 1
    if due is not None:
        run.client_lag.append((due - t0, time.monotonic() - due))
    while True:
        try:
            async with client.post(f"/topics/{TOPIC}", data=payload, headers=HEADERS) as response:
                status, answer = response.status, await response.read()
                retry_after = response.headers.get("retry-after", "1")
        except (aiohttp.ClientError, TimeoutError) as exc:
            run.error(type(exc).__name__)
            return
        if status != 429:
            break
        run.shed += 1
        await asyncio.sleep(float(retry_after))
    latency = time.monotonic() - start
    if status != 200:
        run.error(f"HTTP {status}")
        return
    if len(orjson.loads(answer)["offsets"]) != records:
        run.error("wrong offset count")
        return
    run.ok_records += records
    run.latencies.append((start - t0, latency))


@contextlib.asynccontextmanager
async def session(url: str, connections: int) -> AsyncIterator[aiohttp.ClientSession]:
    """The load's client: aiohttp, whose cost per request stays flat with many requests in flight.

    httpx's did not: its pool made it the bottleneck past ~16 requests in flight (100k records/s at 16,
    67k at 32, 34k at 64, against one gateway that wrk and aiohttp hold at ~110k with 64), so a short
    stall of the gateway turned into a 40-s backlog of the client's own (docs/RELIABILITY.md, "Load").
    Idle connections expire before uvicorn's 5 s keep-alive does: no request races a server-side close.
    """
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=2.0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url=url, connector=connector, timeout=timeout) as client:
        yield client


async def capacity(url: str, payloads: list[bytes], records: int, concurrency: int, seconds: float) -> float:
    run = Run()
    async with session(url, concurrency) as client:
        t0 = time.monotonic()
        deadline = t0 + seconds

        async def worker(n: int) -> None:
            i = n
            while time.monotonic() < deadline:
                await post(client, payloads[i % len(payloads)], records, run, t0)
                i += concurrency

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.monotonic() - t0
    if run.errors:
        raise SystemExit(f"errors while measuring capacity: {run.errors}")
    return run.ok_records / elapsed


async def hold(url: str, payloads: list[bytes], records: int, rate_rps: float, seconds: float, gateway: psutil.Process,
               run: Run, max_in_flight: int) -> list[tuple[float, int]]:  # fmt: skip
    rss: list[tuple[float, int]] = []
    async with session(url, max_in_flight) as client:
        t0 = run.t0 = time.monotonic()
        pending: set[asyncio.Task[None]] = set()

        async def sample() -> None:
            while (offset := time.monotonic() - t0) < seconds:
                rss.append((offset, tree_rss(gateway)))
                run.cpu.append((offset, psutil.cpu_times()))
                await asyncio.sleep(1.0)

        sampler = asyncio.create_task(sample())
        n = 0
        while True:
            due = t0 + n / rate_rps
            if due - t0 >= seconds:
                break
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            if len(pending) >= max_in_flight:
                run.slipped += 1
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            task = asyncio.create_task(post(client, payloads[n % len(payloads)], records, run, t0, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        await asyncio.gather(*pending)
        await sampler
    return rss


BUCKET_S = 10.0


def high_water_growth(rss: list[tuple[float, int]], seconds: float, warmup: float) -> float | None:
    """Highest RSS in the last third of the run over the highest in the first third after warm-up."""
    span = (seconds - warmup) / 3
    first = [r for t, r in rss if warmup <= t < warmup + span]
    last = [r for t, r in rss if t >= seconds - span]
    return round((max(last) - max(first)) / max(first), 4) if first and last else None


def _ms(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# perf trace -T: "<ms since boot, CLOCK_MONOTONIC> ( <duration> ms): <comm>/<tid> fsync(fd: 3) = 0"
PERF_LINE = re.compile(r"^\s*([\d.]+) \(\s*([\d.]+) ms\): \S+ f(?:data)?sync\(")


@contextlib.contextmanager
def fsync_trace(path: Path | None, run: Run) -> Iterator[None]:
    """With ``path``: every fsync and fdatasync on the machine while the block runs (``perf trace``,
    kernel tracepoints: no ptrace stop in the gateway), into ``run.fsyncs`` as offsets from ``run.t0``."""
    if path is None:
        yield
        return
    perf = shutil.which("perf")
    if perf is None:
        raise SystemExit("--trace-fsync needs perf (apt-get install linux-perf)")
    tracer = subprocess.Popen([perf, "trace", "-a", "-T", "-e", "fsync,fdatasync", "-o", str(path)])
    try:
        yield
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=60)
    for line in path.read_text(errors="replace").splitlines():
        match = PERF_LINE.match(line)
        if match and float(match[2]) < 60_000:  # perf prints a wrapped negative duration now and then
            run.fsyncs.append((float(match[1]) / 1000 - run.t0, float(match[2]) / 1000))


def summarise(run: Run, rss: list[tuple[float, int]], seconds: float, warmup: float) -> dict[str, Any]:
    thirds = []
    for k in range(3):
        lo, hi = k * seconds / 3, (k + 1) * seconds / 3
        lat = [lt * 1000 for t, lt in run.latencies if lo <= t < hi]
        thirds.append({"requests": len(lat), "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99)})
    buckets = []
    for k in range(int(seconds // BUCKET_S) + (seconds % BUCKET_S > 0)):
        lo, hi = k * BUCKET_S, (k + 1) * BUCKET_S
        lat = [lt * 1000 for t, lt in run.latencies if lo <= t < hi]
        mem = [r for t, r in rss if lo <= t < hi]
        lag = [lg * 1000 for t, lg in run.client_lag if lo <= t < hi]
        buckets.append({"from_s": lo, "p50_ms": _ms(pct(lat, 0.5)), "p99_ms": _ms(pct(lat, 0.99)),
                        "client_lag_p99_ms": _ms(pct(lag, 0.99)),
                        "rss_mb": round(max(mem) / 2**20, 1) if mem else None})  # fmt: skip
        cpu = [c for t, c in run.cpu if lo <= t <= hi + 1.0]  # the samples bounding the window
        if len(cpu) > 1:
            buckets[-1].update(cpu_share(cpu[0], cpu[-1]))
        if run.fsyncs:
            syncs = [d * 1000 for t, d in run.fsyncs if lo <= t < hi]
            buckets[-1].update(fsyncs=len(syncs), fsync_p99_ms=_ms(pct(syncs, 0.99)),
                               fsync_max_ms=_ms(max(syncs, default=None)), fsync_total_ms=_ms(sum(syncs)))  # fmt: skip
    after = [r for t, r in rss if t >= warmup] or [r for _, r in rss]
    growth = (after[-1] - after[0]) / after[0] if after else None
    return {
        "requests": run.sent,
        "records_acknowledged": run.ok_records,
        "errors": run.errors,
        "sent_late_backlog_full": run.slipped,
        "answered_429_then_resent": run.shed,
        "latency_by_third": thirds,
        "p99_last_over_first": (thirds[2]["p99_ms"] / thirds[0]["p99_ms"])
        if thirds[0]["p99_ms"] and thirds[2]["p99_ms"]
        else None,
        "rss_mb_after_warmup": round(after[0] / 2**20, 1) if after else None,
        "rss_mb_end": round(after[-1] / 2**20, 1) if after else None,
        "rss_mb_max": round(max(r for _, r in rss) / 2**20, 1) if rss else None,
        "rss_growth_after_warmup": round(growth, 4) if growth is not None else None,
        # A leak raises the ceiling over time; a burst of requests in flight raises it once, to a bound.
        "rss_high_water_growth": high_water_growth(rss, seconds, warmup),
        "mean_records_per_s": round(run.ok_records / seconds, 1),
        "p50_overall_ms": pct([lt * 1000 for _, lt in run.latencies], 0.5),
        "stdev_latency_ms": round(statistics.pstdev([lt * 1000 for _, lt in run.latencies]), 2)
        if len(run.latencies) > 1
        else None,
        "by_10s": buckets,
        # where the worst latencies were: (due offset s, latency ms)
        "slowest": slowest(run.latencies),
        "slowest_fsyncs": slowest(run.fsyncs),
    }


def slowest(events: list[tuple[float, float]], n: int = 20) -> list[tuple[float, float]]:
    """The ``n`` longest of (offset s, duration s), as (offset s, ms): where a window's worst moments were."""
    return [(round(t, 2), round(d * 1000, 1)) for t, d in sorted(events, key=lambda e: -e[1])[:n]]


def cpu_share(first: Any, last: Any) -> dict[str, float]:
    """The machine's CPU between two ``psutil.cpu_times()`` samples, as % of all cores."""
    spent = {f: getattr(last, f) - getattr(first, f) for f in first._fields}
    total = sum(spent.values()) or 1.0
    idle = spent.get("idle", 0.0) + spent.get("iowait", 0.0) + spent.get("steal", 0.0)
    return {"cpu_busy_pct": round(100 * (total - idle) / total, 1),
            "iowait_pct": round(100 * spent.get("iowait", 0.0) / total, 1),
            "steal_pct": round(100 * spent.get("steal", 0.0) / total, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="duration of the held load")
    parser.add_argument("--fraction", type=float, default=0.7, help="share of the measured capacity to hold")
    parser.add_argument("--probe-seconds", type=float, default=8.0, help="duration of the capacity probe")
    parser.add_argument("--records", type=int, default=200, help="records per request")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight while probing")
    parser.add_argument("--warmup", type=float, default=None, help="seconds excluded from RSS growth (default 10%%)")
    parser.add_argument("--in-flight-bytes", type=int, default=None,
                        help="the gateway's PINPIPE_API_IN_FLIGHT_BYTES (default: its own)")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--trace-fsync", type=Path, default=None,
                        help="perf trace every fsync into this file; fsync figures per 10 s")  # fmt: skip
    args = parser.parse_args(argv)
    warmup = args.warmup if args.warmup is not None else max(5.0, args.seconds * 0.1)
    home = Path(tempfile.mkdtemp(prefix="pinpipe-load-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    if args.in_flight_bytes is not None:
        env["PINPIPE_API_IN_FLIGHT_BYTES"] = str(args.in_flight_bytes)
    gateway = Gateway(home, base_env=env)
    url = gateway.url
    try:
        gateway.start()
        payloads = [body(args.records, seed) for seed in range(16)]
        cap = asyncio.run(capacity(url, payloads, args.records, args.concurrency, args.probe_seconds))
        rate_rps = cap * args.fraction / args.records
        run = Run()
        with fsync_trace(args.trace_fsync, run):
            rss = asyncio.run(
                hold(url, payloads, args.records, rate_rps, args.seconds, psutil.Process(gateway.pid), run, 64)
            )
        result = {
            "command": "python tests/reliability/load.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "capacity_records_per_s": round(cap, 1),
            "fraction": args.fraction,
            "target_records_per_s": round(cap * args.fraction, 1),
            "records_per_request": args.records,
            "seconds": args.seconds,
            "warmup_s": warmup,
            "gateway_alive": gateway.alive(),
            **summarise(run, rss, args.seconds, warmup),
        }
    finally:
        if gateway.alive():
            gateway.terminate(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
