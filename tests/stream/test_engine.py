"""The Python stream job on the embedded log, in process: clean, dedupe, resume, dead letters, stop."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable
from prometheus_client import CollectorRegistry

from pinpipe.log import OutRecord, TopicPartition, ensure_topics, open_log
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings, get_settings
from pinpipe.stream import engine as engine_module
from pinpipe.stream.engine import StreamJob, StreamOptions, StreamSummary
from pinpipe.stream.metrics import register_metrics
from pinpipe.stream.positions import app_id
from pinpipe.stream.table import DeltaSink
from tests.stream.rows import append_events

KINDS = ("pin", "geo", "user")


@pytest.fixture
def settings(home: Path) -> Settings:
    return get_settings(partitions=2)


@pytest.fixture
def log(settings: Settings) -> EmbeddedLog:
    opened = open_log(settings.stream_log_url or "", settings)
    assert isinstance(opened, EmbeddedLog)
    ensure_topics(opened, [settings.stream(k) for k in KINDS], settings.partitions)
    yield opened
    opened.close()


def run_job(settings: Settings, **options: object) -> StreamSummary:
    return StreamJob(settings, StreamOptions(until_idle=True, status=False, **options)).run()


def table(settings: Settings, name: str) -> DeltaTable:
    return DeltaTable(str(settings.home / "warehouse" / name))


def inds(settings: Settings, kind: str) -> list[int]:
    return sorted(table(settings, f"stream/{kind}").to_pyarrow_table()["ind"].to_pylist())


def test_replays_are_never_duplicated_and_rows_are_cleaned(settings: Settings, log: EmbeddedLog) -> None:
    events = list(range(300))
    append_events(log, settings, events + events[::3])  # the emulator replays ~30 %
    summary = run_job(settings, max_batch_records=128)
    for kind in KINDS:
        assert inds(settings, kind) == events
    assert summary.written == 900
    assert summary.duplicates == 300
    pins = {r["ind"]: r for r in table(settings, "stream/pin").to_pyarrow_table().to_pylist()}
    story, plain = pins[7], pins[5]
    assert story["title"] is None and story["poster_name"] is None and story["follower_count"] is None
    assert story["tag_list"] is None and story["image_src"] is None and story["description"] is None
    assert plain["follower_count"] == 6000 and plain["save_location"] == "/data/beauty"
    assert list(pins[5]) == [
        "ind", "unique_id", "title", "description", "follower_count", "poster_name",
        "tag_list", "is_image_or_video", "image_src", "save_location", "category",
    ]  # fmt: skip
    geo = table(settings, "stream/geo").to_pyarrow_table().to_pylist()[0]
    assert list(geo) == ["ind", "country", "coordinates", "timestamp"] and len(geo["coordinates"]) == 2
    user = table(settings, "stream/user").to_pyarrow_table().to_pylist()[0]
    assert list(user) == ["ind", "user_name", "age", "date_joined"] and user["user_name"].startswith("Abigail Ali")


def test_positions_live_in_the_tables_and_a_restart_resumes_after_them(settings: Settings, log: EmbeddedLog) -> None:
    append_events(log, settings, list(range(100)))
    run_job(settings)
    for kind in KINDS:
        stream = settings.stream(kind)
        ends = log.end_offsets(stream)
        stored = table(settings, f"stream/{kind}")
        for partition, end in ends.items():
            if end:
                assert stored.transaction_version(app_id(TopicPartition(stream, partition))) == end - 1
    # Even if the group's own offsets are lost (or rewound), the tables decide where to resume.
    consumer = log.consumer("pinpipe-stream", [settings.stream(k) for k in KINDS])
    consumer.commit({tp: 0 for tp in consumer.assignment()})
    consumer.close()
    append_events(log, settings, list(range(100, 150)))
    again = run_job(settings)
    assert again.records == 150  # only the new records were read
    for kind in KINDS:
        assert inds(settings, kind) == list(range(150))


def test_bad_records_go_to_dead_letter_once_and_the_stream_goes_on(settings: Settings, log: EmbeddedLog) -> None:
    append_events(log, settings, [1, 2])
    bad = [b"not json", b'{"ind": "seven"}', b'{"index": 3}', b'"aGVsbG8="']
    log.append(settings.stream("geo"), [OutRecord(v, partition=0) for v in bad])
    log.append(settings.stream("geo"), [OutRecord(b'{"ind": 9, "first_name": "A", "last_name": "B", "age": 3, '
                                                  b'"date_joined": "2016-01-01 00:00:00"}', partition=1)])  # fmt: skip
    append_events(log, settings, [3])
    summary = run_job(settings)
    assert summary.dead_letters == 5
    dead = table(settings, "dead_letter").to_pyarrow_table().to_pylist()
    assert sorted(d["value"] for d in dead) == sorted([*(v.decode() for v in bad), dead[-1]["value"]])
    reasons = {d["value"]: d["reason"] for d in dead}
    assert "user row, not a geo row" in reasons[next(v for v in reasons if '"first_name"' in v)]
    assert all(d["source"] == "stream" and d["reason"] for d in dead)
    assert inds(settings, "geo") == [1, 2, 3]
    run_job(settings)  # a rerun adds nothing
    assert table(settings, "dead_letter").to_pyarrow_table().num_rows == 5


def test_crash_between_dead_letter_and_rows_commit_loses_and_doubles_nothing(
    settings: Settings, log: EmbeddedLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_events(log, settings, [1, 2])
    log.append(settings.stream("geo"), [OutRecord(b"garbage", partition=0)])
    real_commit = DeltaSink.commit

    def dies_on_rows(self: DeltaSink, rows: object, spans: object) -> float:
        if not self.uri.endswith("dead_letter"):
            raise RuntimeError("killed between the two commits")
        return real_commit(self, rows, spans)

    monkeypatch.setattr(DeltaSink, "commit", dies_on_rows)
    with pytest.raises(RuntimeError, match="killed"):
        run_job(settings)
    assert table(settings, "dead_letter").to_pyarrow_table().num_rows == 1
    monkeypatch.setattr(DeltaSink, "commit", real_commit)
    run_job(settings)
    assert table(settings, "dead_letter").to_pyarrow_table().num_rows == 1
    for kind in KINDS:
        assert inds(settings, kind) == [1, 2]


def test_stop_finishes_and_commits_the_batch_in_hand(settings: Settings, log: EmbeddedLog) -> None:
    append_events(log, settings, list(range(200)))
    job: StreamJob

    def stop_after_first(summary: StreamSummary) -> None:
        job.stop()

    job = StreamJob(
        settings, StreamOptions(max_batch_records=50, status=False), on_commit=stop_after_first
    )  # no until_idle: only stop() ends it
    summary = job.run()
    assert summary.batches == 1
    assert summary.records == 50
    written = sum(len(inds(settings, k)) for k in KINDS)
    assert written == summary.written == 50


def test_metrics_can_be_registered_where_the_gateway_exposes_them(settings: Settings, log: EmbeddedLog) -> None:
    registry = CollectorRegistry()
    register_metrics(registry)
    register_metrics(registry)  # idempotent
    append_events(log, settings, [1, 1, 2])
    run_job(settings)
    written = registry.get_sample_value(
        "pinpipe_stream_records_total", {"stream": settings.stream("pin"), "outcome": "written"}
    )
    duplicate = registry.get_sample_value(
        "pinpipe_stream_records_total", {"stream": settings.stream("pin"), "outcome": "duplicate"}
    )
    assert written is not None and written >= 2
    assert duplicate is not None and duplicate >= 1
    assert (registry.get_sample_value("pinpipe_stream_batch_latency_seconds_count") or 0) >= 1


def test_latency_is_measured_per_record(settings: Settings, log: EmbeddedLog) -> None:
    append_events(log, settings, list(range(50)))
    summary = run_job(settings)
    assert summary.latency.count == 150
    p50, p99 = summary.latency.percentile(50), summary.latency.percentile(99)
    assert p50 is not None and p99 is not None and 0 <= p50 <= p99
    assert len(summary.batch_latency_ms) == summary.batches
    assert engine_module.STREAM_GROUP == "pinpipe-stream"
