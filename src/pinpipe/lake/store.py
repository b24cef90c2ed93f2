"""Where lake objects live: a tiny store contract, picked by URL scheme (``file://``, ``s3://``), and
the one way readers find and read the sink's files through it.

A store only moves bytes to and from keys (relative to the lake root, ``topics/…``); what the bytes
are is :mod:`pinpipe.lake.format`'s business and what the keys are is :mod:`pinpipe.lake.layout`'s.
Every reader (the batch engines, the tests, the tools) lists with :func:`sink_files` and reads with
:func:`read_file`, so they all see the same files: the keys ``parse_key`` accepts, nothing else.

Two promises every store keeps, because the sink's exactly-once argument stands on them:

- ``write`` returns only when every object is durable, and each object appears whole or not at all
  (a reader never sees half a file).
- Nothing a reader can mistake for a sink file ever appears: a local store stages bytes in a hidden
  folder outside ``topics/``; S3 has no temps (one PUT per object).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from pinpipe.errors import BackendUnavailableError, ConfigError, PinpipeError, ValidationError
from pinpipe.lake.format import inflate
from pinpipe.lake.layout import TOPICS_DIR, LakeObject, day_prefix, parse_key, topic_prefix
from pinpipe.settings import as_url, local_path

# scheme -> "module:Class"; each store class takes the lake URL (and ``read_only``).
STORES: dict[str, str] = {
    "file": "pinpipe.lake.local:LocalLake",
    "s3": "pinpipe.lake.s3:S3Lake",
}


@runtime_checkable
class LakeStore(Protocol):
    """Bytes under keys; ``url`` is the lake root."""

    url: str
    # True when the objects of one ``write`` become visible in the mapping's order (each only after
    # those before it); False when they may appear in any order (concurrent PUTs).
    publishes_in_order: bool

    def write(self, objects: Mapping[str, bytes]) -> None:
        """Store every ``key → bytes`` (replacing what is there); durable and whole on return."""
        ...

    def read(self, key: str) -> bytes | None:
        """The bytes under ``key``, or ``None`` when there is no such object."""
        ...

    def list_keys(self, prefix: str = TOPICS_DIR + "/") -> Iterator[str]:
        """Every key under the folder ``prefix`` (temps never included), in no promised order."""
        ...

    def list_names(self, prefix: str) -> list[str]:
        """The names right under the folder ``prefix`` (files and folders, one level, like ``ls``).

        One request where :meth:`list_keys` would walk the whole tree: enough to tell a topic's layouts.
        """
        ...

    def close(self) -> None: ...


def open_lake(url: str, *, read_only: bool = False) -> LakeStore:
    """Open the lake at ``url``: ``file:///path`` (a bare path works too) or ``s3://bucket/prefix``.

    ``read_only``: for readers (the batch), which must neither create the lake's folders nor tidy the
    sink's temps, and may run where the lake is mounted read-only; ``write`` then refuses.
    """
    url = as_url(url)
    scheme = urlsplit(url).scheme
    target = STORES.get(scheme)
    if target is None:
        raise ConfigError(
            f"unknown lake URL scheme {scheme!r} in {url!r}",
            hint="use a folder path, file:///path/lake or s3://bucket/prefix",
        )
    module_name, cls_name = target.split(":")
    store: LakeStore = getattr(importlib.import_module(module_name), cls_name)(url, read_only=read_only)
    return store


def file_path(url: str) -> Path | None:
    """The local path a ``file://`` URL names (:func:`pinpipe.settings.local_path`), else None."""
    return Path(local_path(url)) if url.startswith("file://") else None


def check_key(key: str) -> str:
    """A key is a relative, normalised, '/'-separated path: nothing that could escape the lake root."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in {"", ".", ".."} for p in parts) or "\\" in key:
        raise ValidationError(f"invalid lake key {key!r}", hint="keys look like topics/<topic>/…/<name>.json")
    return key


@dataclass(frozen=True, slots=True)
class LakeFile:
    """A sink file found in the lake: its key, what the key says, and its URL for engines that read it
    themselves (DuckDB, Spark)."""

    key: str
    info: LakeObject
    url: str  # the lake's URL + "/" + key: file:///… or s3://…
    #: Where the file is on this machine (a ``file://`` lake), for readers that take paths.
    local_path: Path | None = None


def sink_files(store: LakeStore, topic: str | None = None, day: date | None = None) -> list[LakeFile]:
    """Every sink file (as ``parse_key`` reads names), sorted by topic, partition, start offset.

    This is how readers list the lake: anything ``parse_key`` rejects (temps, stray files) is ignored.
    With ``day`` (and a ``topic``), only the files of that day's daily folder.
    """
    if day is not None:
        if topic is None:
            raise ValidationError("a day's files are listed per topic")
        prefix = day_prefix(topic, day)
    else:
        prefix = topic_prefix(topic) if topic else f"{TOPICS_DIR}/"
    root = store.url.rstrip("/")
    folder = file_path(root)  # joined with each key, not parsed from each URL (39,000 files: 2 s so)
    found = []
    for key in store.list_keys(prefix):
        info = parse_key(key)
        if info is not None and (topic is None or info.topic == topic):
            found.append(LakeFile(key, info, f"{root}/{key}", None if folder is None else folder / key))
    found.sort(key=lambda f: (f.info.topic, f.info.partition, f.info.start_offset, f.key))
    return found


def read_file(store: LakeStore, file: LakeFile) -> bytes:
    """A sink file's bytes, one record per line (``.json.gz`` inflated)."""
    data = store.read(file.key)
    if data is None:
        raise BackendUnavailableError(f"lake file {file.url} vanished while it was being read", retry_after=1.0)
    return inflate(data) if file.info.compressed else data


def layouts(store: LakeStore, topic: str) -> set[str]:
    """Which layouts a topic's folder holds: ``daily`` (year=…) and/or ``default`` (partition=…)."""
    names = store.list_names(topic_prefix(topic))
    found = set()
    if any(n.startswith("year=") for n in names):
        found.add("daily")
    if any(n.startswith("partition=") for n in names):
        found.add("default")
    return found


def check_daily(store: LakeStore, topics: list[str]) -> None:
    """Raise a clear error when none of ``topics`` is in the daily layout (``--date`` cannot work)."""
    found = {t: layouts(store, t) for t in topics}
    if any("daily" in each for each in found.values()):
        return
    if not any(found.values()):
        raise PinpipeError(
            f"the lake at {store.url.rstrip('/')} holds no files for {', '.join(topics)}",
            hint="run `pinpipe sink run` first, or check PINPIPE_LAKE_URL and --prefix",
        )
    raise PinpipeError(
        f"the lake at {store.url.rstrip('/')} has no daily layout (year=/month=/day= folders), "
        "so --date cannot pick a day",
        hint="use `pinpipe batch run --all`, or sink with --partitioner daily",
    )
