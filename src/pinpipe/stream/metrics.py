"""What the stream job tells about itself: Prometheus metrics, latency percentiles, a status line.

Latency is measured where it matters to a reader of the tables: from a record's log timestamp (set at
append, just before the gateway acknowledges it) to the moment the Delta commit holding it returned
(visible to any reader). Per batch, the oldest record's age is the figure the issue asks for; the
percentiles come from every record's age, kept in a sparse 1-ms-resolution histogram (ages counted by
pyarrow per batch), so p99 over millions of records costs a walk over a few thousand distinct values.

The Prometheus objects are built unregistered; :func:`register_metrics` adds them to a registry, so
the gateway can expose them on ``/metrics`` when the job runs inside its process, and tests or a
second job in the same process never hit "Duplicated timeseries".
"""

from __future__ import annotations

import sys
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from typing import TextIO

import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from pinpipe.percentile import nearest_rank

MAX_LATENCY_MS = 120_000  # ages beyond 2 minutes all land in the last bin


class LatencyHistogram:
    """Record ages in milliseconds, 1 ms bins (sparse); exact enough for p50/p99 and cheap to merge."""

    def __init__(self) -> None:
        self.bins: Tally[int] = Tally()
        self.count = 0

    def observe(self, ages_ms: pa.Array) -> None:
        if len(ages_ms) == 0:
            return
        clipped = pc.min_element_wise(pc.max_element_wise(ages_ms, 0), MAX_LATENCY_MS)
        for item in pc.value_counts(clipped).to_pylist():
            self.bins[int(item["values"])] += int(item["counts"])
        self.count += len(ages_ms)

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) in ms (nearest rank), None before any observation."""
        if self.count == 0:
            return None
        ages = sorted(self.bins)
        age = nearest_rank(ages, q, [self.bins[a] for a in ages])
        return None if age is None else float(age)

    def merge(self, other: LatencyHistogram) -> None:
        self.bins.update(other.bins)
        self.count += other.count


class StreamMetrics:
    """The job's Prometheus metrics (unregistered until :func:`register_metrics`)."""

    def __init__(self) -> None:
        self.records = Counter(
            "pinpipe_stream_records",
            "Records the stream job consumed, by stream and outcome (written, duplicate, dead_letter).",
            ["stream", "outcome"],
            registry=None,
        )
        self.commits = Counter(
            "pinpipe_stream_commits", "Delta commits of the stream job, by table.", ["table"], registry=None
        )
        self.batch_latency = Histogram(
            "pinpipe_stream_batch_latency_seconds",
            "Per micro-batch: age of its oldest record when its Delta commit returned.",
            buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0),
            registry=None,
        )
        self.commit_seconds = Histogram(
            "pinpipe_stream_commit_seconds",
            "Wall time of one Delta commit (grows with log length until a checkpoint).",
            ["table"],
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=None,
        )
        self.lag = Gauge(
            "pinpipe_stream_lag_records",
            "Records behind the end of the stream (Kinesis: 0 or 1).",
            ["stream"],
            registry=None,
        )
        self.last_commit = Gauge(
            "pinpipe_stream_last_commit_timestamp_seconds", "Unix time of the last Delta commit.", registry=None
        )

    def collectors(self) -> list[Counter | Gauge | Histogram]:
        return [self.records, self.commits, self.batch_latency, self.commit_seconds, self.lag, self.last_commit]


_METRICS: StreamMetrics | None = None
_REGISTERED: set[int] = set()


def stream_metrics() -> StreamMetrics:
    """The process's one set of stream metrics (a job in the gateway shares them with /metrics)."""
    global _METRICS
    if _METRICS is None:
        _METRICS = StreamMetrics()
    return _METRICS


def register_metrics(registry: CollectorRegistry = REGISTRY) -> StreamMetrics:
    """Add the stream metrics to ``registry`` (idempotent); the gateway calls this to expose them."""
    metrics = stream_metrics()
    if id(registry) not in _REGISTERED:
        for collector in metrics.collectors():
            registry.register(collector)
        _REGISTERED.add(id(registry))
    return metrics


@dataclass
class StatusLine:
    """A live line on stderr: records/s, lag, p50/p99 latency since the last line.

    On a terminal it rewrites itself in place every ``every_s``; into a file or pipe it prints a plain
    line every ``every_s * 5`` so logs stay readable.
    """

    out: TextIO = field(default_factory=lambda: sys.stderr)
    every_s: float = 1.0
    enabled: bool = True
    _window: LatencyHistogram = field(default_factory=LatencyHistogram)
    _records: int = 0
    _since: float = field(default_factory=time.monotonic)
    _printed: bool = False

    def observe(self, records: int, ages_ms: pa.Array) -> None:
        self._records += records
        self._window.observe(ages_ms)

    def due(self) -> bool:
        """Whether the next :meth:`maybe_print` prints (so the caller asks the log for lag only then)."""
        if not self.enabled:
            return False
        every = self.every_s if self.out.isatty() else self.every_s * 5
        return time.monotonic() - self._since >= every

    def maybe_print(self, lag: int | None, total: int, force: bool = False) -> None:
        if not self.enabled or not (force or self.due()):
            return
        tty = self.out.isatty()
        now = time.monotonic()
        elapsed = now - self._since
        rate = self._records / elapsed if elapsed > 0 else 0.0
        p50, p99 = self._window.percentile(50), self._window.percentile(99)
        text = (
            f"stream: {rate:,.0f} records/s, {total:,} total, lag {'?' if lag is None else f'{lag:,}'}, "
            f"latency p50 {_ms(p50)} p99 {_ms(p99)}"
        )
        if tty:
            self.out.write("\r\x1b[2K" + text)
            self._printed = True
        else:
            self.out.write(text + "\n")
        self.out.flush()
        self._window = LatencyHistogram()
        self._records = 0
        self._since = now

    def close(self) -> None:
        if self._printed:
            self.out.write("\n")
            self.out.flush()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"
