"""The lake on S3 (``s3://bucket/prefix``) through fsspec/s3fs.

An object is one PUT (s3fs uses ``put_object`` below 100 MB; sink files are far smaller), and S3 makes
a PUT visible whole or not at all, so there are no temps to hide. Several objects of one ``write`` go
out concurrently (s3fs's ``pipe`` with a mapping). Endpoint, region and credentials resolve as
botocore resolves them (``AWS_ENDPOINT_URL``, ``AWS_REGION``, profiles, instance roles): nothing
AWS-specific is configured here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from pinpipe.aws import require_bucket
from pinpipe.errors import BackendUnavailableError, ConfigError
from pinpipe.lake.layout import TOPICS_DIR
from pinpipe.lake.store import check_key


class S3Lake:
    """:class:`~pinpipe.lake.store.LakeStore` over an S3 bucket and prefix."""

    publishes_in_order = False  # the PUTs of one write run concurrently

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigError(f"not an S3 lake URL: {url!r}", hint="use s3://bucket/prefix")
        try:
            import s3fs
        except ImportError as exc:
            raise ConfigError("an s3:// lake needs the package 's3fs'", hint="pip install 's3fs>=2025'") from exc
        require_bucket(url)  # a mistyped bucket fails here, not as an empty lake
        self.url = url
        self.read_only = read_only  # nothing is created or tidied on S3: only ``write`` differs
        self.base = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
        # No listing cache: the sink and readers must see objects written by other processes.
        self.fs: Any = s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True)

    def _path(self, key: str) -> str:
        return f"{self.base}/{check_key(key)}"

    def write(self, objects: Mapping[str, bytes]) -> None:
        if self.read_only:
            raise ConfigError(f"the lake at {self.url} was opened for reading only")
        if not objects:
            return
        paths = {self._path(k): v for k, v in objects.items()}
        try:
            self.fs.pipe(paths)
        except (OSError, ValueError) as exc:
            raise BackendUnavailableError(f"lake write to {self.url} failed: {exc}", retry_after=1.0) from exc

    def read(self, key: str) -> bytes | None:
        try:
            data: bytes = self.fs.cat_file(self._path(key))
            return data
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BackendUnavailableError(f"lake read of {key!r} failed: {exc}", retry_after=1.0) from exc

    def list_keys(self, prefix: str = TOPICS_DIR + "/") -> Iterator[str]:
        base = f"{self.base}/{prefix.strip('/')}" if prefix.strip("/") else self.base
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise BackendUnavailableError(f"lake listing of {self.url} failed: {exc}", retry_after=1.0) from exc
        cut = len(self.base) + 1
        for path in found:
            yield path[cut:]

    def list_names(self, prefix: str) -> list[str]:
        folder = f"{self.base}/{check_key(prefix.strip('/'))}"
        try:
            found = self.fs.ls(folder, detail=False)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise BackendUnavailableError(f"lake listing of {self.url} failed: {exc}", retry_after=1.0) from exc
        return [str(path).rstrip("/").rsplit("/", 1)[-1] for path in found]

    def close(self) -> None:
        """s3fs keeps its session for the process; nothing to release per store."""

    def __repr__(self) -> str:
        return f"S3Lake({self.url!r})"
