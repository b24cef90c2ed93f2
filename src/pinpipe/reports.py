"""Files under ``$PINPIPE_HOME/reports``: run summaries and the stream job's own status.

Jobs write them and other processes (the dashboard, the demo, ``pinpipe report``) read them, so every
write is an atomic replace and a reader tolerates a file that is missing or being replaced.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pinpipe.settings import Settings

#: Written by the stream job after each commit and when it stops (records, latency, lag, running).
STREAM_JOB_FILE = "stream_job.json"
#: Written by the demo at its end: what the run did, for ``pinpipe report``.
LAST_RUN_FILE = "last_run.json"


def report_file(settings: Settings, name: str) -> Path:
    """A file under ``$PINPIPE_HOME/reports``."""
    return settings.reports_dir / name


def write_json(path: Path, data: Any) -> None:
    """Atomic replace, so a reader polling the file never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any | None:
    """The file's JSON, or None when it is missing or (being replaced) unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
