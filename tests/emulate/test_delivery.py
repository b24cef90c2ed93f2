"""The emulator against a real (scripted) HTTP gateway: retries, partial failures, pacing, at-least-once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest

from pinpipe.emulate import EmulateOptions, Emulator, RetryPolicy, Summary, run_emulator
from tests.emulate._support import FakeClock, FakeGateway, Reply, make_source

PINS = range(1, 251)
NO_GEO = set(range(10, 60, 7))
NO_USER = set(range(5, 250, 11))
TOPICS = {"pin": "p.pin", "geo": "p.geo", "user": "p.user"}
STREAMS = {"pin": "streaming-p-pin", "geo": "streaming-p-geo", "user": "streaming-p-user"}
EXPECTED = {"pin": set(PINS), "geo": set(PINS) - NO_GEO, "user": set(PINS) - NO_USER}
RECORDS = sum(len(s) for s in EXPECTED.values())


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_source(tmp_path_factory.mktemp("src") / "source.db", PINS, no_geo=NO_GEO, no_user=NO_USER)


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as gw:
        yield gw


def options(source: str, gateway: FakeGateway, route: str = "batch", **kw: Any) -> EmulateOptions:
    retry = RetryPolicy(attempts=kw.pop("attempts", 10), base_s=0.001, cap_s=0.01, rng=random.Random(0))
    return EmulateOptions(route=route, source_url=source, api_url=gateway.url, prefix="p", retry=retry, **kw)


def assert_log_holds_each_record_once(gateway: FakeGateway, names: dict[str, str]) -> None:
    for kind, name in names.items():
        inds = gateway.inds(name)
        assert sorted(inds) == sorted(EXPECTED[kind]), kind


def test_every_event_reaches_the_log_once(source: str, gateway: FakeGateway) -> None:
    summary = run_emulator(options(source, gateway, every_once=True, seed=3, concurrency=4, batch_size=40))
    assert summary.ok and summary.events == len(PINS) and summary.events_planned == len(PINS)
    assert summary.records_sent == summary.records_acknowledged == RECORDS
    assert_log_holds_each_record_once(gateway, TOPICS)
    assert max(n for _, _, n in gateway.requests) == 40
    assert summary.latency_p50_ms is not None and summary.latency_p99_ms is not None
    assert summary.latency_p50_ms <= summary.latency_p99_ms


def test_default_run_draws_500_events_with_replacement(source: str, gateway: FakeGateway) -> None:
    summary = run_emulator(options(source, gateway, seed=11))
    assert summary.events == 500 and summary.ok
    pins = gateway.inds("p.pin")
    assert len(pins) == 500 and len(set(pins)) < 250
    again = FakeGateway()
    with again:
        run_emulator(options(source, again, seed=11, concurrency=1))
    assert sorted(again.inds("p.pin")) == sorted(pins)  # same seed, same events


def test_503s_are_retried_until_acknowledged(source: str) -> None:
    def script(gw: FakeGateway, method: str, path: str, payload: dict[str, Any]) -> Reply | None:
        if len(gw.requests) <= 3:
            return Reply(status=503, headers={"Retry-After": "0"})
        return None

    with FakeGateway(script) as gateway:
        summary = run_emulator(options(source, gateway, every_once=True, concurrency=1, batch_size=100))
    assert summary.ok and summary.records_acknowledged == RECORDS
    assert summary.retries == 3 and summary.retry_reasons == {"HTTP 503": 3 * 100}
    assert_log_holds_each_record_once(gateway, TOPICS)


def test_gives_up_after_the_bounded_attempts(source: str) -> None:
    down = {"error_code": 503, "message": "event log unavailable, nothing was written: broker down"}
    with FakeGateway(lambda *_: Reply(status=503, body=down)) as gateway:
        summary = run_emulator(options(source, gateway, events=10, attempts=3))
    assert not summary.ok
    assert summary.records_failed == summary.records_sent >= 20 and summary.records_acknowledged == 0
    assert summary.requests == 3 * 3  # one batch per topic, three tries each
    # The last answer's words are kept: they tell a gateway whose log is down from one that is gone.
    assert list(summary.errors) == [f"gave up after 3 attempts, last: HTTP 503: {down['message']}"]
    assert summary.retry_reasons == {"HTTP 503": 2 * summary.records_sent}


def test_a_fatal_answer_aborts_the_run(source: str) -> None:
    body = {"error_code": 40401, "message": "topic 'p.pin' not found"}
    with FakeGateway(lambda *_: Reply(status=404, body=body)) as gateway:
        summary = run_emulator(options(source, gateway, events=2000, concurrency=2))
    assert not summary.ok and summary.records_acknowledged == 0
    assert summary.aborted is not None and "topic 'p.pin' not found" in summary.aborted
    assert summary.requests <= 2  # no request after the first answers
    assert summary.events < 2000


def test_kinesis_partial_failures_resend_only_the_rejected_records(source: str) -> None:
    rejected: set[tuple[str, int]] = set()

    def script(gw: FakeGateway, method: str, path: str, payload: dict[str, Any]) -> Reply | None:
        if path.endswith("/record"):  # a single rejected record left is retried with PutRecord
            return None
        stream = path.split("/")[2]
        out: list[dict[str, Any]] = []
        for position, record in enumerate(payload["Records"]):
            key = (stream, gw.ind_of(record["Data"]))
            if position % 2 == 1 and key not in rejected:
                rejected.add(key)
                out.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
            else:
                (seq,) = gw.store(stream, [record["Data"]])
                out.append({"SequenceNumber": str(seq), "ShardId": "shardId-000000000000"})
        failed = sum("ErrorCode" in r for r in out)
        return Reply(body={"FailedRecordCount": failed, "Records": out})

    with FakeGateway(script) as gateway:
        summary = run_emulator(options(source, gateway, "stream", every_once=True, batch_size=10))
    assert summary.ok and summary.records_acknowledged == RECORDS
    assert_log_holds_each_record_once(gateway, STREAMS)
    assert len(rejected) > 100
    for key, times in gateway.received.items():
        assert times == (2 if key in rejected else 1), key  # acknowledged records are never sent again
    assert any(path.endswith("/records") for _, path, _ in gateway.requests)


def test_batch_size_one_uses_put_record(source: str, gateway: FakeGateway) -> None:
    summary = run_emulator(options(source, gateway, "stream", events=20, batch_size=1, api_key="k-123"))
    assert summary.ok and summary.requests == summary.records_sent
    assert {path.rsplit("/", 1)[1] for _, path, _ in gateway.requests} == {"record"}
    assert all(h["x-api-key"] == "k-123" for h in gateway.headers)


def test_an_answer_lost_after_the_write_is_resent_at_least_once(source: str) -> None:
    """The documented at-least-once case: the log holds the batch twice, and the summary says so."""

    def script(gw: FakeGateway, method: str, path: str, payload: dict[str, Any]) -> Reply | None:
        return Reply(drop_after_store=True) if len(gw.requests) == 1 else None

    with FakeGateway(script) as gateway:
        summary = run_emulator(options(source, gateway, every_once=True, concurrency=1, batch_size=50))
    assert summary.ok and summary.records_acknowledged == RECORDS
    assert summary.records_resent_unknown == 50
    stored = sum(len(gateway.stored[t]) for t in TOPICS.values())
    assert stored == RECORDS + 50
    for kind, topic in TOPICS.items():
        assert set(gateway.inds(topic)) == EXPECTED[kind]


def paced(source: str, gateway: FakeGateway, **kw: Any) -> tuple[Summary, Emulator, FakeClock]:
    clock = FakeClock()
    emulator = Emulator(options(source, gateway, **kw), clock=clock, sleep=clock.sleep)
    emulator.dispatch_times = []
    return asyncio.run(emulator.run()), emulator, clock


def test_rate_limit_holds_on_counts(source: str, gateway: FakeGateway) -> None:
    rate, burst, events = 200.0, 5.0, 300
    summary, emulator, _ = paced(source, gateway, events=events, rate=rate, burst=burst)
    times = emulator.dispatch_times
    assert summary.ok and times is not None and len(times) == events
    for i, t in enumerate(times, start=1):
        assert i <= burst + rate * t + 1e-6, (i, t)
    assert times[-1] == pytest.approx((events - burst) / rate)  # and no slower than asked
    assert len(gateway.inds("p.pin")) == events


def test_slow_rates_do_not_hold_rows_for_a_full_batch(source: str, gateway: FakeGateway) -> None:
    summary, _, _ = paced(source, gateway, events=5, rate=1.0, batch_size=100)
    assert summary.ok
    pin_requests = [n for _, path, n in gateway.requests if path == "/topics/p.pin"]
    assert pin_requests == [1, 1, 1, 1, 1]  # each event left before the producer waited for the next


def test_duration_stops_the_run(source: str, gateway: FakeGateway) -> None:
    summary, _, clock = paced(source, gateway, duration_s=2.0, rate=50.0, burst=1.0)
    assert summary.events_planned is None
    assert 100 <= summary.events <= 101
    assert clock.now == pytest.approx(2.0, abs=0.021)  # stopped at the first event past the deadline
    assert summary.ok and len(gateway.inds("p.pin")) == summary.events
