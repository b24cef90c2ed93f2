"""The names pinpipe gives things in a log: its consumer groups, and topic and stream names validated
once (a topic name becomes a lake path)."""

from __future__ import annotations

import re

from pinpipe.errors import ValidationError

#: The consumer group of the sinks (their committed positions are what the lake holds) and of the
#: stream jobs; the status page reads both groups' lag.
SINK_GROUP = "pinpipe-sink"
STREAM_GROUP = "pinpipe-stream"

_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


def validate_name(name: str, *, what: str = "topic") -> str:
    """Return ``name`` if it is a legal Kafka/Kinesis name that is safe as a path segment."""
    if not _NAME.fullmatch(name) or ".." in name or name in {".", ".."}:
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise ValidationError(
            f"invalid {what} name {shown!r}",
            hint="use 1-249 characters of A-Z a-z 0-9 . _ - and no '..'",
        )
    return name
