"""One stream job per warehouse: an exclusive ``flock`` beside the stream tables.

Two stream jobs on one warehouse never help and often harm. On the embedded log and on Kinesis every
consumer reads every partition, so both jobs process everything and race on each commit. On Kafka
the consumer group splits the partitions, but each job knows the tables (its held positions, its set
of ``ind``) as they were at its own start plus what it wrote itself: after a rebalance hands it a
partition the other job wrote, it resumes from the group's offsets (a hint, behind the tables) with a
stale picture, and exactly once then rests on the stale-position fence stopping one of them; a
replay that lands in the other job's partition is not deduplicated; and both compact the same tables.

So the job (``pinpipe stream run`` on either engine, the demo's stream worker, and the gateway with
``--with-stream``) holds ``<warehouse>/stream/_stream_job.lock`` while it runs, with its pid in the
file, and a second one stops at start with one line naming that pid. The kernel releases an
``flock`` when its holder dies, SIGKILL included, so a restart right after a crash never meets a
stale lock. ``flock`` locks an open file, not a process: a second job in the same process is
refused too.

A warehouse on object storage (``s3://``) has no such lock: there, one stream job per warehouse is
the operator's duty (docs/STREAMING.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from pinpipe.errors import ConfigError, PinpipeError
from pinpipe.process import PidLockHeld, take_pid_lock
from pinpipe.settings import Settings, local_path, mask_url

LOCK_NAME = "_stream_job.lock"


class StreamJobRunningError(PinpipeError):
    """Another stream job holds the warehouse."""


def lock_path(settings: Settings) -> Path | None:
    """Where the stream job's lock lives, or ``None`` for a warehouse that is not a local folder."""
    assert settings.warehouse_url is not None
    location = local_path(settings.warehouse_url)
    if "://" in location:
        return None
    return Path(location) / "stream" / LOCK_NAME


class WarehouseLock:
    """The stream job's hold on its warehouse; a context manager, or :meth:`acquire` / :meth:`release`."""

    def __init__(self, settings: Settings) -> None:
        self.path = lock_path(settings)
        self.warehouse = mask_url(settings.warehouse_url or "")
        self._fd: int | None = None
        self._claimed = False  # acquired on a warehouse that has no lock (s3://): nothing to hold

    @property
    def held(self) -> bool:
        return self._claimed

    def acquire(self) -> Self:
        """Take the lock at once or raise :class:`StreamJobRunningError` (never waits)."""
        if self._claimed:
            return self
        if self.path is None:
            self._claimed = True
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = take_pid_lock(self.path)
        except PidLockHeld as held:
            raise StreamJobRunningError(
                f"another stream job is running on warehouse {self.warehouse} (pid {held.holder})",
                hint=(
                    "one stream job per warehouse: stop that one first, or give this one another PINPIPE_WAREHOUSE_URL"
                ),
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"cannot create the stream job's lock {str(self.path)!r}: {exc.strerror or exc}",
                hint="the warehouse must be a writable folder",
            ) from None
        self._fd = fd
        self._claimed = True
        return self

    def release(self) -> None:
        """Let the next job start (idempotent). The file stays: removing it would race a new holder."""
        fd, self._fd = self._fd, None
        self._claimed = False
        if fd is not None:
            os.close(fd)  # releases the flock

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
