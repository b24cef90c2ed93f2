"""The lake in a local folder (``file://…``): atomic, durable object writes on a POSIX filesystem.

Each object is written to a temp file in ``<root>/.pinpipe-tmp/`` (outside ``topics/``, hidden, and a
name ``parse_key`` rejects), fsynced, moved into place with ``os.replace`` (atomic on one filesystem),
then the target folder is fsynced so the rename itself survives a power cut. The objects of one
``write`` are renamed in the mapping's order, so they appear in that order (``publishes_in_order``).
A crash leaves at most temp files nobody reads; the next store opened on this host removes temps of
dead processes (unless opened ``read_only``, as readers open it: they change nothing in the lake).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from pinpipe.errors import BackendUnavailableError, ConfigError, DiskFullError, is_disk_full
from pinpipe.lake.layout import TOPICS_DIR
from pinpipe.lake.store import check_key, file_path
from pinpipe.process import pid_alive

TMP_DIR = ".pinpipe-tmp"
_MAX_DIR_FDS = 256
# Temp files written and fsynced at once in one ``write``: disks flush several files faster together.
STAGING_THREADS = 4


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalLake:
    """:class:`~pinpipe.lake.store.LakeStore` over a folder."""

    publishes_in_order = True

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        root = file_path(url)
        if root is None or urlsplit(url).netloc not in {"", "localhost"}:
            raise ConfigError(f"not a local lake URL: {url!r}", hint="use file:///absolute/path/lake")
        self.url = url
        self.root = root
        self.read_only = read_only
        self.tmp = self.root / TMP_DIR
        # Host and pid in temp names: concurrent sinks never collide, and cleanup knows whose temps.
        self._tag = f"{socket.gethostname()}-{os.getpid()}-"
        self._counter = itertools.count()
        self._known_dirs: set[Path] = set()
        self._dir_fds: dict[Path, int] = {}
        self._pool: ThreadPoolExecutor | None = None
        if read_only:
            return
        try:
            self._ensure_dir(self.tmp)
        except OSError as exc:
            raise BackendUnavailableError(
                f"cannot create the lake folder {str(self.root)!r}: {exc}", hint="check PINPIPE_LAKE_URL"
            ) from exc
        self._remove_dead_temps()

    # ------------------------------------------------------------------ writing

    def write(self, objects: Mapping[str, bytes]) -> None:
        """Stage every object (temp file, written and fsynced; in parallel, the disk's slow part),
        then rename them into place in the mapping's order, then fsync each folder once.

        So objects appear in order (a crash leaves a prefix of them published, the rest as temps)
        and all are durable on return."""
        if self.read_only:
            raise ConfigError(f"the lake at {self.url} was opened for reading only")
        items = [(self.root / check_key(key), data) for key, data in objects.items()]
        if not items:
            return
        staged: list[Path] = []
        try:
            for target, _ in items:
                self._ensure_dir(target.parent)
            if len(items) == 1:
                staged = [self._stage(items[0][1])]
            else:
                # every stage is waited for, so the temps of those that succeeded are known and removed
                # below when another fails (a full disk fails some of them, not all)
                futures = [self._stager().submit(self._stage, data) for _, data in items]
                failure: OSError | None = None
                for future in futures:
                    try:
                        staged.append(future.result())
                    except OSError as exc:
                        failure = failure or exc
                if failure is not None:
                    raise failure
            for (target, _), tmp in zip(items, staged, strict=True):
                os.replace(tmp, target)
            for folder in dict.fromkeys(target.parent for target, _ in items):
                os.fsync(self._dir_fd(folder))
        except OSError as exc:
            for tmp in staged:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if is_disk_full(exc):
                raise DiskFullError(
                    f"the lake's disk is full ({self.url}): the files being written were removed, none committed",
                    hint="free space or grow the disk, then run again: the sink resumes at its committed offsets",
                ) from exc
            raise BackendUnavailableError(f"lake write to {self.url} failed: {exc}", retry_after=1.0) from exc

    def _stager(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=STAGING_THREADS, thread_name_prefix="pinpipe-lake-stage")
        return self._pool

    def _stage(self, data: bytes) -> Path:
        """Write ``data`` to a fresh temp file and fsync it; the temp path (outside ``topics/``)."""
        tmp = self.tmp / f"{self._tag}{next(self._counter)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def _dir_fd(self, path: Path) -> int:
        """A kept-open descriptor per folder: fsyncing a folder per file is then one syscall."""
        fd = self._dir_fds.get(path)
        if fd is None:
            if len(self._dir_fds) >= _MAX_DIR_FDS:
                self._close_dir_fds()
            fd = self._dir_fds[path] = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        return fd

    def _ensure_dir(self, path: Path) -> None:
        """Create ``path`` and its missing parents durably (each new entry's parent is fsynced)."""
        if path in self._known_dirs:
            return
        missing = []
        probe = path
        while not probe.is_dir():
            missing.append(probe)
            probe = probe.parent
        for folder in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another sink made it meanwhile
                folder.mkdir()
            _fsync_dir(folder.parent)
        self._known_dirs.add(path)

    def _remove_dead_temps(self) -> None:
        """Temps of crashed sinks on this host: invisible to readers, but they take space."""
        host = socket.gethostname()
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.tmp):
                owner, _, rest = entry.name.rpartition("-")
                h, _, pid = owner.rpartition("-")
                if h == host and pid.isdigit() and rest.endswith(".tmp") and not pid_alive(int(pid)):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    # ------------------------------------------------------------------ reading

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / check_key(key)).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BackendUnavailableError(f"lake read of {key!r} failed: {exc}", retry_after=1.0) from exc

    def list_keys(self, prefix: str = TOPICS_DIR + "/") -> Iterator[str]:
        base = self.root / prefix.strip("/") if prefix.strip("/") else self.root
        for folder, dirs, files in os.walk(base):
            if Path(folder) == self.root:
                dirs[:] = [d for d in dirs if d != TMP_DIR]
            rel = Path(folder).relative_to(self.root).as_posix()
            for name in files:
                yield name if rel == "." else f"{rel}/{name}"

    def list_names(self, prefix: str) -> list[str]:
        folder = self.root / check_key(prefix.strip("/"))
        try:
            return [entry.name for entry in os.scandir(folder)]  # a key-like prefix: never the root's temps
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise BackendUnavailableError(f"lake listing of {self.url} failed: {exc}", retry_after=1.0) from exc

    # ------------------------------------------------------------------ lifecycle

    def _close_dir_fds(self) -> None:
        for fd in self._dir_fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._dir_fds.clear()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._close_dir_fds()

    def __del__(self) -> None:
        self._close_dir_fds()

    def __repr__(self) -> str:
        return f"LocalLake({self.url!r})"
