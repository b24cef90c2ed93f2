"""The posting emulators: events from the source database, posted to the gateway at a chosen rate.

``pinpipe emulate batch`` uses the Kafka REST route and ``pinpipe emulate stream`` the Kinesis route,
as the seed's two scripts did; :func:`run_emulator` is the whole run and returns a :class:`Summary`
(used by the CLI, the demo, tests and the benchmark). Delivery is at-least-once: see
:mod:`pinpipe.emulate.retry`.
"""

from __future__ import annotations

from pinpipe.emulate.events import Event, SourceReader, pick
from pinpipe.emulate.ratelimit import TokenBucket
from pinpipe.emulate.retry import RetryPolicy
from pinpipe.emulate.routes import Ack, KafkaRestRoute, KinesisRoute, OutRow, Rejected
from pinpipe.emulate.runner import DEFAULT_EVENTS, EmulateOptions, Emulator, run_emulator
from pinpipe.emulate.stats import Stats, Summary

__all__ = [
    "DEFAULT_EVENTS",
    "Ack",
    "EmulateOptions",
    "Emulator",
    "Event",
    "KafkaRestRoute",
    "KinesisRoute",
    "OutRow",
    "Rejected",
    "RetryPolicy",
    "SourceReader",
    "Stats",
    "Summary",
    "TokenBucket",
    "pick",
    "run_emulator",
]
