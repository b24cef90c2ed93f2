"""Where lake objects live: a tiny store contract, picked by URL scheme (``file://``, ``s3://``).

A store only moves bytes to and from keys (relative to the lake root, ``topics/…``); what the bytes
are is :mod:`pinpipe.lake.format`'s business and what the keys are is :mod:`pinpipe.lake.layout`'s.

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
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from pinpipe.errors import ConfigError, ValidationError
from pinpipe.lake.layout import TOPICS_DIR, LakeObject, parse_key
from pinpipe.settings import as_url

# scheme -> "module:Class"; each store class takes the lake URL.
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

    def close(self) -> None: ...


def open_lake(url: str) -> LakeStore:
    """Open the lake at ``url``: ``file:///path`` (a bare path works too) or ``s3://bucket/prefix``."""
    url = as_url(url)
    scheme = urlsplit(url).scheme
    target = STORES.get(scheme)
    if target is None:
        raise ConfigError(
            f"unknown lake URL scheme {scheme!r} in {url!r}",
            hint="use a folder path, file:///path/lake or s3://bucket/prefix",
        )
    module_name, cls_name = target.split(":")
    store: LakeStore = getattr(importlib.import_module(module_name), cls_name)(url)
    return store


def check_key(key: str) -> str:
    """A key is a relative, normalised, '/'-separated path: nothing that could escape the lake root."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in {"", ".", ".."} for p in parts) or "\\" in key:
        raise ValidationError(f"invalid lake key {key!r}", hint="keys look like topics/<topic>/…/<name>.json")
    return key


@dataclass(frozen=True, slots=True)
class LakeFile:
    """A sink file found in the lake: its key and what the key says."""

    key: str
    info: LakeObject


def sink_files(store: LakeStore, topic: str | None = None) -> list[LakeFile]:
    """Every sink file (as ``parse_key`` reads names), sorted by topic, partition, start offset.

    This is how readers list the lake: anything ``parse_key`` rejects (temps, stray files) is ignored.
    """
    prefix = f"{TOPICS_DIR}/{topic}/" if topic else f"{TOPICS_DIR}/"
    found = []
    for key in store.list_keys(prefix):
        info = parse_key(key)
        if info is not None and (topic is None or info.topic == topic):
            found.append(LakeFile(key, info))
    found.sort(key=lambda f: (f.info.topic, f.info.partition, f.info.start_offset, f.key))
    return found
