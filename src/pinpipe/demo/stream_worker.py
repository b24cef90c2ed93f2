"""``python -m pinpipe.demo.stream_worker``: the Python stream job, telling how it does in a file.

The same :class:`~pinpipe.stream.engine.StreamJob` as ``pinpipe stream run``; after every commit it
also writes ``$PINPIPE_HOME/reports/stream_job.json`` (records, rows written, duplicates, dead letters,
latency p50/p99 from log append to Delta visibility), which the demo's summary and the dashboard read
from another process. SIGTERM finishes the batch in hand, commits, writes a last status and exits 0.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import Any

from pinpipe.process import run_main
from pinpipe.report.status import STREAM_JOB_FILE, report_file, write_json
from pinpipe.settings import get_settings
from pinpipe.stream.engine import StreamJob, StreamOptions, StreamSummary


def summary_dict(summary: StreamSummary, *, running: bool) -> dict[str, Any]:
    return {
        "running": running,
        "pid": os.getpid(),
        "updated": datetime.now(tz=UTC).isoformat(timespec="milliseconds"),
        "records": summary.records,
        "written": summary.written,
        "duplicates": summary.duplicates,
        "dead_letters": summary.dead_letters,
        "batches": summary.batches,
        "commits": summary.commits,
        "seconds": round(summary.seconds, 3),
        "records_per_s": round(summary.rate(), 1),
        "p50_ms": summary.latency.percentile(50),
        "p99_ms": summary.latency.percentile(99),
    }


def main() -> int:
    settings = get_settings()
    path = report_file(settings, STREAM_JOB_FILE)
    job = StreamJob(
        settings,
        StreamOptions(status=False),
        on_commit=lambda summary: write_json(path, summary_dict(summary, running=True)),
    )
    summary = job.run()
    write_json(path, summary_dict(summary, running=False))
    print(f"stream worker: {summary.records:,} records, {summary.written:,} rows written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # as every entry point ends (pinpipe.process): an error is one line in the demo's view of this log
    sys.exit(run_main(main, debug="--debug" in sys.argv[1:]))
