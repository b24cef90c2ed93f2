"""Emulators against a real ``pinpipe api`` process and every log backend, including a gateway crash.

The gateway runs as its own process (as users run it) on a random 127.0.0.1 port. Afterwards the log is
read back through ``pinpipe.log`` and compared with the source database, record by record.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pinpipe.emulate import Ack, EmulateOptions, Emulator, OutRow, RetryPolicy, Stats, Summary, run_emulator
from pinpipe.log import Record, open_log
from pinpipe.settings import TABLES, Settings
from pinpipe.source.db import open_engine
from pinpipe.source.fill import populate
from pinpipe.source.schema import KEYS
from pinpipe.source.schema import TABLES as SOURCE_TABLES
from tests.support.acks import AckLog, ind_of, read_all
from tests.support.gateway import Gateway

pytestmark = pytest.mark.services

READ_DEADLINE_S = 90.0


@pytest.fixture
def prefix() -> str:
    """Topics and streams are unique per test: Tansu and moto are shared by the whole session."""
    return f"emu{uuid.uuid4().hex[:8]}"


def make_source(home: Path, rows: int, seed: int = 5) -> str:
    url = f"sqlite:///{home / 'source.db'}"
    engine = open_engine(url)
    populate(engine, rows=rows, seed=seed)
    engine.dispose()
    return url


def source_inds(url: str) -> dict[str, list[int]]:
    engine = open_engine(url)
    with engine.connect() as conn:
        out = {
            kind: sorted(conn.execute(select(table.c[KEYS[kind]])).scalars()) for kind, table in SOURCE_TABLES.items()
        }
    engine.dispose()
    return out


def names(settings: Settings, route: str) -> dict[str, str]:
    return {kind: settings.topic(kind) if route == "batch" else settings.stream(kind) for kind in TABLES}


def check_log_against_source(
    records: list[Record], acks: AckLog, source: dict[str, list[int]], topics: dict[str, str]
) -> int:
    """Every acknowledged position holds its record, each source row is in the log; returns the extras."""
    at = {(r.topic, r.partition, r.offset): ind_of(r.value) for r in records}
    assert acks.duplicates == 0
    missing = {k: v for k, v in acks.acked.items() if at.get(k) != v}
    assert not missing, f"{len(missing)} acknowledged records are not at their position, e.g. {next(iter(missing))}"
    extras = 0
    for kind, topic in topics.items():
        inds = [ind for (t, _, _), ind in at.items() if t == topic]
        assert set(inds) == set(source[kind]), kind
        extras += len(inds) - len(set(inds))
    assert sum(1 for (t, _, _) in acks.acked if t in topics.values()) == sum(len(v) for v in source.values())
    return extras


def every_event(route: str, source: str, gateway: Gateway, prefix: str, **kw: Any) -> EmulateOptions:
    """Options for an ``--all`` run from ``source`` to ``gateway``."""
    return EmulateOptions(
        route=route,
        source_url=source,
        api_url=gateway.url,
        prefix=prefix,
        every_once=True,
        **kw,
    )


BACKENDS = [
    pytest.param("batch", "embedded", 1500, id="batch-embedded"),
    pytest.param("stream", "embedded", 1500, id="stream-embedded"),
    pytest.param("batch", "kafka", 1500, id="batch-kafka"),
    pytest.param("stream", "kinesis", 400, id="stream-kinesis"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("route", "backend", "rows"), BACKENDS)
def test_all_events_land_in_the_log_exactly_once(
    route: str, backend: str, rows: int, home: Path, prefix: str, request: pytest.FixtureRequest
) -> None:
    env = {"PINPIPE_PREFIX": prefix}
    if backend == "kafka":
        env["PINPIPE_LOG_URL"] = request.getfixturevalue("kafka").url
    if backend == "kinesis":
        request.getfixturevalue("aws_env")  # into os.environ, so the gateway process inherits it
        env["PINPIPE_STREAM_LOG_URL"] = "kinesis://us-east-1"
    home.mkdir(parents=True)
    source = make_source(home, rows)
    gateway = Gateway(home, env)
    gateway.start()
    acks = AckLog()
    try:
        # moto loses PutRecords under concurrent writers (TOOLING.md): one request at a time there.
        concurrency = 1 if backend == "kinesis" else 4
        options = every_event(route, source, gateway, prefix, seed=1, concurrency=concurrency, batch_size=50)
        summary = run_emulator(options, on_ack=acks)
    finally:
        gateway.stop()
    expected = source_inds(source)
    total = sum(len(v) for v in expected.values())
    assert summary.ok, summary.errors
    assert summary.events == rows and summary.records_acknowledged == summary.records_sent == total
    settings = Settings(home=home, prefix=prefix)
    log_url = {
        "embedded": str(settings.log_url),
        "kafka": env.get("PINPIPE_LOG_URL", ""),
        "kinesis": "kinesis://us-east-1",
    }
    topics = names(settings, route)
    records = read_all(log_url[backend], settings, list(topics.values()), total)
    assert len(records) == total  # no record twice: nothing went wrong, so nothing was re-sent
    assert check_log_against_source(records, acks, expected, topics) == 0


@dataclass
class CrashAtThreshold(AckLog):
    """SIGKILLs the gateway once ``threshold`` records are acknowledged, then starts it again.

    The kill happens inside the emulator's event loop, so the in-flight count read just before it is
    exact: no request can start or finish between the read and the kill. The restart runs in a thread,
    so the emulator meanwhile meets refused connections and backs off, as it would in real life.
    """

    gateway: Gateway | None = None
    threshold: int = 0
    in_flight_at_kill: int | None = None
    restart: threading.Thread | None = None
    restart_error: list[BaseException] = field(default_factory=list)

    def __call__(self, destination: str, acked: Sequence[tuple[OutRow, Ack]], stats: Stats) -> None:
        super().__call__(destination, acked, stats)
        if self.in_flight_at_kill is None and stats.records_acknowledged >= self.threshold:
            assert self.gateway is not None
            self.in_flight_at_kill = stats.records_in_flight
            self.gateway.kill()
            self.restart = threading.Thread(target=self._restart, name="gateway-restart")
            self.restart.start()

    def _restart(self) -> None:
        assert self.gateway is not None
        try:
            self.gateway.start()
        except BaseException as exc:  # surfaced by the test, not lost in the thread
            self.restart_error.append(exc)


@pytest.mark.slow
@pytest.mark.parametrize("route", ["batch", "stream"])
def test_a_gateway_killed_mid_run_loses_nothing_acknowledged(route: str, home: Path, prefix: str) -> None:
    rows = 4000
    home.mkdir(parents=True)
    source = make_source(home, rows)
    expected = source_inds(source)
    total = sum(len(v) for v in expected.values())
    gateway = Gateway(home, {"PINPIPE_PREFIX": prefix})
    gateway.start()
    crash = CrashAtThreshold(gateway=gateway, threshold=total // 3)
    try:
        retry = RetryPolicy(attempts=40, base_s=0.05, cap_s=1.0)  # rides out a restart of up to ~30 s
        options = every_event(route, source, gateway, prefix, seed=2, concurrency=8, batch_size=40, retry=retry)
        summary = run_emulator(options, on_ack=crash)
        assert crash.restart is not None
        crash.restart.join(timeout=90)
        assert not crash.restart_error, crash.restart_error
    finally:
        gateway.stop()
    assert gateway.starts == 2 and crash.in_flight_at_kill is not None
    assert summary.ok, summary.errors
    assert summary.records_acknowledged == summary.records_sent == total
    assert summary.retries > 0  # the kill was felt
    settings = Settings(home=home, prefix=prefix)
    topics = names(settings, route)
    log = open_log(str(settings.log_url), settings)
    in_log = sum(sum(log.end_offsets(t).values()) for t in topics.values())
    log.close()
    records = read_all(str(settings.log_url), settings, list(topics.values()), in_log)
    assert len(records) == in_log
    extras = check_log_against_source(records, crash, expected, topics)
    # Duplicates can only come from requests whose answer the kill cut off after the write.
    assert extras <= crash.in_flight_at_kill
    assert extras <= summary.records_resent_unknown


def test_rate_limit_holds_against_the_gateway(home: Path, prefix: str) -> None:
    """Over every window of dispatches, events <= burst + rate * window: the token bucket's bound."""
    home.mkdir(parents=True)
    source = make_source(home, 300)
    gateway = Gateway(home, {"PINPIPE_PREFIX": prefix})
    gateway.start()
    rate, burst, events = 400.0, 10.0, 500
    try:
        options = EmulateOptions(
            route="batch", source_url=source, api_url=gateway.url, prefix=prefix, events=events, rate=rate, burst=burst
        )
        emulator = Emulator(options)
        emulator.dispatch_times = []
        summary = run_async(emulator)
    finally:
        gateway.stop()
    times = emulator.dispatch_times
    assert summary.ok and summary.events == events and len(times) == events
    for i in range(events):
        for j in range(i + 1, events):
            assert j - i <= burst + rate * (times[j] - times[i]) + 1e-6, (i, j)
    assert summary.records_acknowledged == summary.records_sent


def run_async(emulator: Emulator) -> Summary:
    return asyncio.run(emulator.run())
