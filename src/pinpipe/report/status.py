"""Pipeline status as one JSON-able snapshot: what the dashboard polls, the demo waits on, the report keeps.

Everything is read from where the truth already lives, so it works for any process that can see the
home, not only for the demo that started the jobs:

- records per topic/stream: the log's end offsets where they count records
  (``capabilities.dense_offsets``: embedded log and Kafka; Kinesis sequence numbers are not counts, so
  there it is left out);
- sink lag: end offsets minus the positions consumer group ``pinpipe-sink`` committed (it commits only
  after the lake files are durable); stream lag: the same for ``pinpipe-stream``, which commits right
  after its Delta commits — so a lag of 0 means the lake, or the stream tables, hold everything;
- rows of the warehouse tables and dead letters: Delta file statistics (no data read), through kept
  table handles brought up to date incrementally, so polling every second stays cheap;
- the latest batch run: the commit metadata of the insight tables (``pinpipe.run_time``, scope);
- stream latency: ``reports/stream_job.json``, which the demo's stream worker writes per commit.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pinpipe.insights.queries import INSIGHTS
from pinpipe.log.base import EventLog, TopicPartition, can_read_committed, counts_committed
from pinpipe.log.names import SINK_GROUP, STREAM_GROUP
from pinpipe.process import pid_alive
from pinpipe.reports import STREAM_JOB_FILE, read_json, report_file
from pinpipe.settings import TABLES, Settings
from pinpipe.tables.delta import (
    batch_table,
    dead_letter_table_uri,
    insight_table,
    open_table,
    warehouse_table,
)

THROUGHPUT_WINDOW_S = 5.0


class DeltaCounts:
    """Row counts and latest commits of Delta tables through kept handles (one process, many polls)."""

    def __init__(self) -> None:
        self._handles: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _table(self, uri: str) -> Any | None:
        handle = self._handles.get(uri)
        if handle is None:
            handle = open_table(uri)
            if handle is None:
                return None
            self._handles[uri] = handle
        else:
            handle.update_incremental()
        return handle

    def rows(self, uri: str) -> int | None:
        """Rows of the table at ``uri`` from its file statistics; None when there is no table yet."""
        with self._lock:
            table = self._table(uri)
            if table is None:
                return None
            actions = table.get_add_actions(flatten=True)
            counts = actions.column("num_records").to_pylist()
            return int(sum(n or 0 for n in counts))

    def version(self, uri: str) -> int | None:
        with self._lock:
            table = self._table(uri)
            return None if table is None else int(table.version())

    def last_commit(self, uri: str) -> dict[str, Any] | None:
        """The newest commit's info (operation, timestamp, pinpipe.* metadata)."""
        with self._lock:
            table = self._table(uri)
            if table is None:
                return None
            history = table.history(1)
            return history[0] if history else None


class Throughput:
    """Records per second over the last few seconds, from successive totals (one per status poll)."""

    def __init__(self, window_s: float = THROUGHPUT_WINDOW_S) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def observe(self, total: int, now: float | None = None) -> float | None:
        at = time.monotonic() if now is None else now
        self._samples.append((at, total))
        while len(self._samples) > 2 and at - self._samples[1][0] >= self.window_s:
            self._samples.popleft()
        first_at, first_total = self._samples[0]
        if at - first_at <= 0:
            return None
        return max(0.0, (total - first_total) / (at - first_at))


def _ends(log: EventLog, name: str) -> dict[int, int] | None:
    try:
        return log.end_offsets(name)
    except Exception:
        return None


def _committed(log: EventLog, group: str) -> dict[TopicPartition, int] | None:
    """A group's committed positions where the backend can tell without joining the group."""
    if not can_read_committed(log):
        return None
    try:
        return log.committed(group)
    except Exception:
        return None


def _committed_records(log: EventLog, group: str) -> dict[TopicPartition, int] | None:
    if not counts_committed(log):
        return None
    try:
        return log.committed_records(group)
    except Exception:
        return None


def log_positions(
    log: EventLog, names: list[str], group: str, published_lag: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    """Per topic/stream: records and how many ``group`` has not committed yet (its lag).

    Where offsets count records (embedded, Kafka), ``records`` are the records appended (end offsets)
    and ``lag`` the end offsets minus the group's commits; on Kafka, offsets that hold no record (one
    marker per transaction and partition) are among them (``"counted": "offsets"``). Where they do not
    (Kinesis), ``records`` are the records the group's commits covered (``"counted": "committed"``), and
    the lag is what the running consumer last published (``published_lag``, by name): Kinesis cannot count what is
    appended without reading it all.
    """
    if log.capabilities.dense_offsets:
        committed = _committed(log, group)
        out = []
        for name in names:
            ends = _ends(log, name)
            # where offsets may hold no record (Kafka's transaction markers), they are what is counted
            what = "offsets" if log.capabilities.skips_offsets else "appended"
            entry: dict[str, Any] = {"name": name, "records": None, "lag": None, "counted": what}
            if ends is not None:
                entry["records"] = sum(ends.values())
                if committed is not None:
                    entry["lag"] = sum(
                        max(0, end - committed.get(TopicPartition(name, p), 0)) for p, end in ends.items()
                    )
            out.append(entry)
        return out
    counted = _committed_records(log, group)
    return [
        {
            "name": name,
            "records": None if counted is None else sum(n for tp, n in counted.items() if tp.topic == name),
            "lag": (published_lag or {}).get(name),
            "counted": "committed",
        }
        for name in names
    ]


def _batch_run(commit: dict[str, Any] | None) -> dict[str, Any] | None:
    if commit is None:
        return None
    stamp = commit.get("pinpipe.run_time")
    if stamp is None and commit.get("timestamp"):
        stamp = datetime.fromtimestamp(int(commit["timestamp"]) / 1000, tz=UTC).isoformat(timespec="seconds")
    return {
        "run_time": stamp,
        "scope": commit.get("pinpipe.scope"),
        "job": commit.get("pinpipe.job"),
    }


class PipelineStatus:
    """Builds status snapshots for one home; keep one per process so Delta handles and rates persist."""

    def __init__(self, settings: Settings, log: EventLog | None, stream_log: EventLog | None = None) -> None:
        self.settings = settings
        self.log = log
        self.stream_log = stream_log if stream_log is not None else log
        self.tables = DeltaCounts()
        self.throughput = Throughput()
        self._lock = threading.Lock()

    def topics(self) -> list[dict[str, Any]]:
        if self.log is None:
            return []
        return log_positions(self.log, [self.settings.topic(k) for k in TABLES], SINK_GROUP)

    def streams(self) -> list[dict[str, Any]]:
        if self.stream_log is None:
            return []
        names = [self.settings.stream(k) for k in TABLES]
        streams = log_positions(self.stream_log, names, STREAM_GROUP, published_lag=self._running_job_lag())
        for entry, kind in zip(streams, TABLES, strict=True):
            entry["table_rows"] = self._rows(warehouse_table(self.settings, "stream", kind))
        return streams

    def stream_job(self) -> dict[str, Any] | None:
        """The stream job's own status file (``reports/stream_job.json``), ``running`` corrected to
        false when the process that wrote it is gone (killed jobs cannot say so themselves)."""
        job = read_json(report_file(self.settings, STREAM_JOB_FILE))
        if not isinstance(job, dict):
            return None
        pid = job.get("pid")
        if job.get("running") and not (isinstance(pid, int) and pid > 0 and pid_alive(pid)):
            job["running"] = False
        return job

    def _running_job_lag(self) -> dict[str, int] | None:
        job = self.stream_job()
        lag = job.get("lag") if job and job.get("running") else None
        return lag if isinstance(lag, dict) else None

    def _rows(self, uri: str) -> int | None:
        try:
            return self.tables.rows(uri)
        except Exception:
            return None

    def latest_batch(self) -> dict[str, Any] | None:
        """When the insights were last replaced, and over what scope (a day or ``all``)."""
        uri = insight_table(self.settings, next(iter(INSIGHTS)))
        try:
            run = _batch_run(self.tables.last_commit(uri))
        except Exception:
            return None
        if run is not None:
            run["rows"] = {kind: self._rows(batch_table(self.settings, kind)) for kind in TABLES}
        return run

    def insights_version(self) -> tuple[int | None, ...]:
        """The insight tables' versions: a new batch run changes them (the dashboard re-reads only then)."""
        versions = []
        for name in INSIGHTS:
            try:
                versions.append(self.tables.version(insight_table(self.settings, name)))
            except Exception:
                versions.append(None)
        return tuple(versions)

    def snapshot(self) -> dict[str, Any]:
        """One status object (the shape ``/api/status`` serves and the report embeds)."""
        with self._lock:
            topics = self.topics()
            streams = self.streams()
            appended = [e["records"] for e in topics + streams if e["records"] is not None]
            total = sum(appended) if appended else None
            rate = self.throughput.observe(total) if total is not None else None
            return {
                "time": datetime.now(tz=UTC).isoformat(timespec="seconds"),
                "prefix": self.settings.prefix,
                "topics": topics,
                "streams": streams,
                "records_total": total,
                "records_per_s": rate,
                "sink_lag": _sum_lag(topics),
                "stream_lag": _sum_lag(streams),
                "dead_letters": self._rows(dead_letter_table_uri(self.settings)),
                "stream_job": self.stream_job(),
                "batch": self.latest_batch(),
            }


def _sum_lag(entries: list[dict[str, Any]]) -> int | None:
    lags = [e["lag"] for e in entries]
    if not lags or any(lag is None for lag in lags):
        return None
    return int(sum(lags))


def open_status(settings: Settings) -> tuple[PipelineStatus, Callable[[], None]]:
    """A status reader with its own logs (for the CLI and the demo), and how to close them.

    An embedded log that does not exist yet is not created, and a log that cannot be reached is left
    out: there is just nothing to report about it (a report of the insights still gets written).
    """
    from pinpipe.log import log_exists, open_log

    opened: list[EventLog] = []

    def logged(url: str | None) -> EventLog | None:
        if not url:
            return None
        if not log_exists(url):
            return None
        for log in opened:
            if log.url == url:
                return log
        try:
            log = open_log(url, settings)
        except Exception:  # a log that cannot be reached leaves its part of the status empty
            return None
        opened.append(log)
        return log

    log = logged(settings.log_url)
    stream_log = logged(settings.stream_log_url)

    def close() -> None:
        for each in opened:
            with contextlib.suppress(Exception):
                each.close()

    return PipelineStatus(settings, log, stream_log), close
