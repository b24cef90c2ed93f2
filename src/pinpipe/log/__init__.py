"""Event log backends, chosen by URL scheme; heavy clients are imported only by their backend."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from urllib.parse import urlsplit

from pinpipe.errors import ConfigError
from pinpipe.log.base import (
    Appended,
    EventLog,
    LogConsumer,
    OutRecord,
    Record,
    TopicPartition,
    UnknownTopicError,
)
from pinpipe.log.names import validate_name

__all__ = [
    "Appended",
    "EventLog",
    "LogConsumer",
    "OutRecord",
    "Record",
    "TopicPartition",
    "UnknownTopicError",
    "ensure_topics",
    "open_log",
    "validate_name",
]

# scheme -> "module:Class"; each backend class takes (url, settings).
BACKENDS: dict[str, str] = {
    "sqlite": "pinpipe.log.embedded:EmbeddedLog",
    "kafka": "pinpipe.log.kafka:KafkaLog",
    "kinesis": "pinpipe.log.kinesis:KinesisLog",
}


def open_log(url: str, settings: object | None = None) -> EventLog:
    """Open the event log named by ``url`` (``sqlite:///…``, ``kafka://h:p[,…]``, ``kinesis://region``)."""
    scheme = urlsplit(url).scheme
    target = BACKENDS.get(scheme)
    if target is None:
        raise ConfigError(
            f"unknown event log URL scheme {scheme!r} in {url!r}",
            hint="use sqlite:///path/log.db, kafka://host:9092 or kinesis://region",
        )
    module_name, cls_name = target.split(":")
    module = importlib.import_module(module_name)
    return getattr(module, cls_name)(url, settings)


def ensure_topics(log: EventLog, names: Iterable[str], partitions: int = 1) -> None:
    """Create the topics/streams pinpipe uses when missing (the gateway does this at start-up)."""
    existing = log.topics()
    for name in names:
        if name not in existing:
            log.create_topic(validate_name(name), partitions)
