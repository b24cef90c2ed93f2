"""``python -m pinpipe.demo.stream_worker``: the demo's Python stream job, as a child process.

The same :class:`~pinpipe.stream.engine.StreamJob` as ``pinpipe stream run`` (which also publishes
``$PINPIPE_HOME/reports/stream_job.json`` per commit: the demo's summary and the dashboard read it),
without its status line, which would garble the demo's own view. SIGTERM finishes the batch in hand,
commits, writes a last status and exits 0.
"""

from __future__ import annotations

import sys

from pinpipe.process import run_main
from pinpipe.settings import get_settings
from pinpipe.stream.engine import StreamJob, StreamOptions


def main() -> int:
    summary = StreamJob(get_settings(), StreamOptions(status=False)).run()
    print(f"stream worker: {summary.records:,} records, {summary.written:,} rows written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # as every entry point ends (pinpipe.process): an error is one line in the demo's view of this log
    sys.exit(run_main(main, debug="--debug" in sys.argv[1:]))
