"""One sink per group on the embedded log: it has no group coordinator to share partitions.

Every consumer of the embedded log reads every partition, so two ``sink run`` processes of the same
group would both write the same files, cut at different moments. An exclusive ``flock`` on a file
next to ``log.db`` makes the second one stop with a clear message; the kernel releases it when the
holder dies, even by SIGKILL, so a restart after a crash never finds a stale lock. On Kafka the
consumer group shares the partitions and no lock is taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from pinpipe.errors import PinpipeError


class SinkAlreadyRunningError(PinpipeError):
    """Another sink of the same group holds the embedded log."""


@contextlib.contextmanager
def single_sink_lock(log_url: str, group: str) -> Iterator[Path | None]:
    """Hold the embedded log's sink lock for ``group`` (no-op for other logs); yields the lock path."""
    if urlsplit(log_url).scheme != "sqlite":
        yield None
        return
    from pinpipe.log.embedded import db_path

    path = db_path(log_url).with_name(f"{db_path(log_url).name}.{group}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise SinkAlreadyRunningError(
                f"another sink of group {group!r} is running on {log_url} (pid {holder})",
                hint="the embedded log has no consumer groups to share: run one sink, or use Kafka to scale out",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
