"""Counters of a run while it goes (for the progress bar and hooks) and its final summary.

Latencies are kept exactly up to :data:`MAX_SAMPLES` requests and sampled uniformly beyond (reservoir
sampling), so a long ``--duration`` run reports honest percentiles in bounded memory.
"""

from __future__ import annotations

import random
from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from pinpipe.percentile import nearest_rank

MAX_SAMPLES = 1_000_000


class LatencySamples:
    """Request latencies in seconds; percentiles by the nearest-rank method."""

    def __init__(self, max_samples: int = MAX_SAMPLES, rng: random.Random | None = None) -> None:
        self._samples: array[float] = array("d")
        self._seen = 0
        self._max = max_samples
        self._rng = rng or random.Random(0)

    def add(self, seconds: float) -> None:
        self._seen += 1
        if len(self._samples) < self._max:
            self._samples.append(seconds)
            return
        slot = self._rng.randrange(self._seen)
        if slot < self._max:
            self._samples[slot] = seconds

    def __len__(self) -> int:
        return self._seen

    def percentile(self, p: float) -> float | None:
        """The ``p``-th percentile (0 < p <= 100), or None with no sample."""
        return nearest_rank(sorted(self._samples), p)


@dataclass
class Stats:
    """Live counters; one event loop updates them, hooks and the progress bar read them."""

    events: int = 0
    records_sent: int = 0
    records_acknowledged: int = 0
    records_failed: int = 0
    records_in_flight: int = 0
    records_resent_unknown: int = 0
    requests: int = 0
    retries: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    retry_reasons: Counter[str] = field(default_factory=Counter)
    aborted: str | None = None
    latencies: LatencySamples = field(default_factory=LatencySamples)

    def error(self, reason: str, records: int = 1) -> None:
        """Count ``records`` failed for good for ``reason``."""
        self.errors[reason] += records


@dataclass(frozen=True)
class Summary:
    """What a run did. ``ok`` is False when any record failed or the run was aborted (exit non-zero)."""

    route: str
    api: str
    seed: int
    events_planned: int | None
    events: int
    records_sent: int
    records_acknowledged: int
    records_failed: int
    records_resent_unknown: int
    requests: int
    retries: int
    elapsed_s: float
    prepare_s: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    errors: dict[str, int]
    retry_reasons: dict[str, int]
    aborted: str | None

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def records_per_s(self) -> float:
        return self.records_acknowledged / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.records_failed == 0 and self.aborted is None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(events_per_s=self.events_per_s, records_per_s=self.records_per_s, ok=self.ok)
        return out

    @classmethod
    def of(
        cls,
        stats: Stats,
        *,
        route: str,
        api: str,
        seed: int,
        events_planned: int | None,
        elapsed_s: float,
        prepare_s: float,
    ) -> Summary:
        p50, p99 = stats.latencies.percentile(50), stats.latencies.percentile(99)
        return cls(
            route=route,
            api=api,
            seed=seed,
            events_planned=events_planned,
            events=stats.events,
            records_sent=stats.records_sent,
            records_acknowledged=stats.records_acknowledged,
            records_failed=stats.records_failed,
            records_resent_unknown=stats.records_resent_unknown,
            requests=stats.requests,
            retries=stats.retries,
            elapsed_s=elapsed_s,
            prepare_s=prepare_s,
            latency_p50_ms=None if p50 is None else p50 * 1000,
            latency_p99_ms=None if p99 is None else p99 * 1000,
            errors=dict(stats.errors.most_common()),
            retry_reasons=dict(stats.retry_reasons.most_common()),
            aborted=stats.aborted,
        )
