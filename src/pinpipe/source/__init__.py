"""The source database: the three tables of the seed's RDS MySQL, their generator, loader and readers.

Public API (what the CLI and the emulators use):

- :func:`open_engine` — an engine for a SQLAlchemy URL (SQLite, MySQL/MariaDB, PostgreSQL).
- :func:`populate` — ``source init``: generated events, deterministic per seed.
- :func:`load` — ``source load``: validated JSON-lines rows, all or nothing.
- :func:`collect` — ``source stats``: counts and the rate of each placeholder class.
- :func:`event_inds`, :func:`iter_events` — read events back, in batches.
"""

from pinpipe.source.db import open_engine, row_counts
from pinpipe.source.loader import LoadResult, load
from pinpipe.source.populate import populate
from pinpipe.source.reader import SourceEvent, event_inds, iter_events
from pinpipe.source.stats import SourceStats, collect

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
