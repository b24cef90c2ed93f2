"""Event log backends, chosen by URL scheme; heavy clients are imported only by their backend."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from pinpipe.errors import ConfigError
from pinpipe.log.base import (
    Appended,
    CommittedLog,
    CountingLog,
    EventLog,
    GroupInUseError,
    LogCapabilities,
    LogConsumer,
    OutRecord,
    Record,
    SingleConsumerLog,
    SubmittingLog,
    TopicPartition,
    UnknownTopicError,
    can_read_committed,
    can_submit,
    counts_committed,
    keeps_single_consumer,
)
from pinpipe.log.names import validate_name

if TYPE_CHECKING:
    from pinpipe.settings import Settings

__all__ = [
    "Appended",
    "CommittedLog",
    "CountingLog",
    "EventLog",
    "GroupInUseError",
    "LogCapabilities",
    "LogConsumer",
    "OutRecord",
    "Record",
    "SingleConsumerLog",
    "SubmittingLog",
    "TopicPartition",
    "UnknownTopicError",
    "can_read_committed",
    "can_submit",
    "capabilities_of",
    "counts_committed",
    "ensure_topics",
    "keeps_single_consumer",
    "log_exists",
    "open_log",
    "validate_name",
]

# scheme -> "module:Class"; each backend class takes (url, settings).
BACKENDS: dict[str, str] = {
    "sqlite": "pinpipe.log.embedded:EmbeddedLog",
    "kafka": "pinpipe.log.kafka:KafkaLog",
    "kinesis": "pinpipe.log.kinesis:KinesisLog",
}


class _Backend(Protocol):
    """A backend class: its capabilities, and its constructor."""

    capabilities: LogCapabilities

    def __call__(self, url: str, settings: Settings) -> EventLog: ...


def _backend(url: str) -> _Backend:
    """The backend class ``url``'s scheme names (its module imported now, with its client library)."""
    scheme = urlsplit(url).scheme
    target = BACKENDS.get(scheme)
    if target is None:
        raise ConfigError(
            f"unknown event log URL scheme {scheme!r} in {url!r}",
            hint="use sqlite:///path/log.db, kafka://host:9092 or kinesis://region",
        )
    module_name, cls_name = target.split(":")
    backend: _Backend = getattr(importlib.import_module(module_name), cls_name)
    return backend


def open_log(url: str, settings: Settings) -> EventLog:
    """Open the event log named by ``url`` (``sqlite:///…``, ``kafka://h:p[,…]``, ``kinesis://region``)
    with the settings of the process that opens it (passed down, never looked up here)."""
    return _backend(url)(url, settings)


def capabilities_of(url: str) -> LogCapabilities:
    """What the backend of ``url`` can do, without opening it (for callers that hold only a URL)."""
    return _backend(url).capabilities


def log_exists(url: str) -> bool:
    """Whether opening ``url`` finds a log rather than makes one: only the embedded log is a file that
    opening creates; a broker or a region is taken to be there (opening it tells)."""
    if urlsplit(url).scheme != "sqlite":
        return True
    from pinpipe.log.embedded import db_path

    return db_path(url).exists()


def ensure_topics(log: EventLog, names: Iterable[str], partitions: int = 1) -> None:
    """Create the topics/streams pinpipe uses when missing (the gateway does this at start-up)."""
    existing = log.topics()
    for name in names:
        if name not in existing:
            log.create_topic(validate_name(name), partitions)
