"""The source database: the three tables of the seed's RDS MySQL, their generator, loader and readers.

Public API (what the CLI and the emulators use):

- :func:`open_engine` — an engine for a SQLAlchemy URL (SQLite, MySQL/MariaDB, PostgreSQL);
  ``readonly=True`` for verbs that only read (a missing SQLite file is an error, never created).
- :func:`populate` — ``source init``: generated events, deterministic per seed.
- :func:`load` — ``source load``: validated JSON-lines rows, all or nothing (geo/user rows
  without a pin skipped and counted).
- :func:`collect` — ``source stats``: counts and the rate of each placeholder class.
- :func:`event_inds`, :func:`iter_events` — read events back, in batches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pinpipe.source.db import open_engine, row_counts
    from pinpipe.source.fill import populate
    from pinpipe.source.loader import LoadResult, load
    from pinpipe.source.reader import SourceEvent, event_inds, iter_events
    from pinpipe.source.stats import SourceStats, collect

# Imported on first use: SQLAlchemy and Faker cost a second, which every `pinpipe` command would pay.
_EXPORTS = {
    "open_engine": "db",
    "row_counts": "db",
    "LoadResult": "loader",
    "load": "loader",
    "populate": "fill",
    "SourceEvent": "reader",
    "event_inds": "reader",
    "iter_events": "reader",
    "SourceStats": "stats",
    "collect": "stats",
}

__all__ = [
    "LoadResult",
    "SourceEvent",
    "SourceStats",
    "collect",
    "event_inds",
    "iter_events",
    "load",
    "open_engine",
    "populate",
    "row_counts",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pinpipe.source' has no attribute {name!r}")
    return getattr(importlib.import_module(f"pinpipe.source.{module}"), name)
