"""The lake in a local folder (``file://…``): atomic, durable object writes on a POSIX filesystem.

Each object is written to a temp file in ``<root>/.pinpipe-tmp/`` (outside ``topics/``, hidden, and a
name ``parse_key`` rejects), fsynced, moved into place with ``os.replace`` (atomic on one filesystem),
then the target folder is fsynced so the rename itself survives a power cut. A crash leaves at most
a temp file nobody reads; the next store opened on this host removes temps of dead processes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pinpipe.errors import BackendUnavailableError, ConfigError
from pinpipe.lake.layout import TOPICS_DIR
from pinpipe.lake.store import check_key

TMP_DIR = ".pinpipe-tmp"
_MAX_DIR_FDS = 256


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalLake:
    """:class:`~pinpipe.lake.store.LakeStore` over a folder."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "file" or parts.netloc not in {"", "localhost"}:
            raise ConfigError(f"not a local lake URL: {url!r}", hint="use file:///absolute/path/lake")
        self.url = url
        self.root = Path(unquote(parts.path))
        self.tmp = self.root / TMP_DIR
        # Host and pid in temp names: concurrent sinks never collide, and cleanup knows whose temps.
        self._tag = f"{socket.gethostname()}-{os.getpid()}-"
        self._counter = itertools.count()
        self._known_dirs: set[Path] = set()
        self._dir_fds: dict[Path, int] = {}
        try:
            self._ensure_dir(self.tmp)
        except OSError as exc:
            raise BackendUnavailableError(
                f"cannot create the lake folder {str(self.root)!r}: {exc}", hint="check PINPIPE_LAKE_URL"
            ) from exc
        self._remove_dead_temps()

    # ------------------------------------------------------------------ writing

    def write(self, objects: Mapping[str, bytes]) -> None:
        for key, data in objects.items():
            self._write_one(check_key(key), data)

    def _write_one(self, key: str, data: bytes) -> None:
        target = self.root / key
        parent = target.parent
        try:
            self._ensure_dir(parent)
            tmp = self.tmp / f"{self._tag}{next(self._counter)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
            os.fsync(self._dir_fd(parent))
        except OSError as exc:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
            raise BackendUnavailableError(f"lake write of {key!r} failed: {exc}", retry_after=1.0) from exc

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
                if h == host and pid.isdigit() and rest.endswith(".tmp") and not _pid_alive(int(pid)):
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

    # ------------------------------------------------------------------ lifecycle

    def _close_dir_fds(self) -> None:
        for fd in self._dir_fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._dir_fds.clear()

    def close(self) -> None:
        self._close_dir_fds()

    def __del__(self) -> None:
        self._close_dir_fds()

    def __repr__(self) -> str:
        return f"LocalLake({self.url!r})"
