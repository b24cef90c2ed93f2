"""Which events to send, and reading their rows from the source database in bounded chunks.

An event is the pin, geo and user rows that share one ``ind``; real data has gaps, so an event holds
the rows that exist (a pin without its user row sends two records). Memory stays bounded whatever the
source size: only the event ids are held (8 bytes each in an ``array``, streamed from the database with
``stream_results``), and rows are fetched per chunk of ids just ahead of sending.

Events are the pins, as :mod:`pinpipe.source.reader` defines them (``source load`` skips a geo or
user row without its pin), so with ``--all`` every row is sent exactly once and each topic receives
exactly its table's ids. Ids are read in ascending order before drawing, so a seed picks the same
events on SQLite, MySQL or PostgreSQL. This module reads rows itself rather than through
``pinpipe.source.reader`` because it must hold ids compactly, stream them with a server-side cursor
and read one chunk ahead in a worker thread while the previous chunk is being sent.
"""

from __future__ import annotations

import datetime as dt
import random
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, String, Table, bindparam, select, type_coerce
from sqlalchemy.exc import SQLAlchemyError

from pinpipe.errors import PinpipeError
from pinpipe.source.db import require_tables, unavailable
from pinpipe.source.schema import KEYS, TABLES

#: The wire format of datetimes, as the seed's emulators sent them.
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

#: Ids per database round trip: small enough for every driver's parameter limit, large enough to be cheap.
CHUNK_EVENTS = 500

#: Ids fetched per round trip while listing the source's events.
_ID_FETCH = 10_000


class EmptySourceError(PinpipeError):
    """The source database holds no events, so there is nothing to emulate."""


@dataclass(frozen=True, slots=True)
class Event:
    """One posting event: ``rows`` maps ``pin``/``geo``/``user`` to the row as sent (JSON-ready)."""

    ind: int
    rows: dict[str, dict[str, Any]]


def event_ids(conn: Connection) -> array[int]:
    """Every event id in the source (the pins' ``index``), ascending."""
    key = TABLES["pin"].c[KEYS["pin"]]
    query = select(key).order_by(key)
    out: array[int] = array("q")
    result = conn.execution_options(stream_results=True, yield_per=_ID_FETCH).execute(query)
    for part in result.scalars().partitions(_ID_FETCH):
        out.extend(part)
    return out


def pick(ids: Sequence[int], rng: random.Random, *, count: int | None, every_once: bool) -> Iterator[int]:
    """The ids to send, in sending order.

    ``every_once`` (``--all``): every id once in random order, stopping early after ``count`` if given.
    Otherwise ids drawn uniformly with replacement, as the seed's emulator did: ``count`` of them,
    or without end when ``count`` is None (a ``--duration`` run stops the iteration itself).
    """
    if not ids:
        return
    if every_once:
        order = array("q", ids)
        rng.shuffle(order)
        yield from order if count is None else order[:count]
        return
    size = len(ids)
    drawn = 0
    while count is None or drawn < count:
        yield ids[rng.randrange(size)]
        drawn += 1


def _wire(value: Any) -> Any:
    """A column value as JSON carries it: datetimes as ``YYYY-MM-DD HH:MM:SS`` strings."""
    if isinstance(value, str):  # SQLite datetime text: already right unless written another way
        if len(value) == 19 and value[10] == " ":
            return value
        try:
            return dt.datetime.fromisoformat(value).strftime(DATETIME_FORMAT)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        return value.strftime(DATETIME_FORMAT)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class _TableReader:
    """Reads one table's rows for a set of ids, converting only the columns that need it."""

    def __init__(self, kind: str, table: Table, dialect: str) -> None:
        self.kind = kind
        self.key = table.c[KEYS[kind]]
        self.names = tuple(str(c.name) for c in table.columns)  # plain str: orjson refuses quoted_name keys
        self.key_pos = self.names.index(self.key.name)
        dated = [isinstance(c.type, DateTime) for c in table.columns]
        if dialect == "sqlite":
            # pinpipe's SQLite source stores datetimes as 'YYYY-MM-DD HH:MM:SS' text, the wire format
            # itself: reading the text skips a parse and a format per value (a third of the read cost).
            columns = [type_coerce(c, String) if d else c for c, d in zip(table.columns, dated, strict=True)]
            query = select(*columns)
        else:
            query = select(table)
        # One prepared statement with an expanding parameter: building ``key.in_(ids)`` per chunk coerces
        # every id into a literal first, which cost as much as reading the rows.
        self.select = query.where(self.key.in_(bindparam("ids", expanding=True)))
        self.convert = tuple(i for i, d in enumerate(dated) if d)

    def rows(self, conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        result = conn.execute(self.select, {"ids": ids})
        out: dict[int, dict[str, Any]] = {}
        names, convert, key_pos = self.names, self.convert, self.key_pos
        for raw in result.fetchall():
            values = list(raw)
            for i in convert:
                values[i] = _wire(values[i])
            out[values[key_pos]] = dict(zip(names, values, strict=True))
        return out


class SourceReader:
    """Fetches events from the source database; one connection, used from one thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._readers = [_TableReader(kind, table, engine.dialect.name) for kind, table in TABLES.items()]
        self._conn: Connection | None = None

    def _connection(self) -> Connection:
        if self._conn is None:
            try:
                self._conn = self.engine.connect()
            except SQLAlchemyError as exc:
                raise unavailable(self.engine, exc) from exc
        return self._conn

    def event_ids(self) -> array[int]:
        """Every event id, ascending; raises :class:`EmptySourceError` when there is none.

        A source without its tables is refused here, before anything is sent, with the verb that fills it.
        """
        try:
            conn = self._connection()
            require_tables(conn, self.engine)
            ids = event_ids(conn)
        except SQLAlchemyError as exc:
            raise unavailable(self.engine, exc) from exc
        if not ids:
            raise EmptySourceError(
                "the source database has no events to send", hint="fill it with 'pinpipe source init'"
            )
        return ids

    def fetch(self, ids: Sequence[int]) -> list[Event]:
        """The events for ``ids`` in that order (repeats included); an id without a pin row is skipped."""
        if not ids:
            return []
        conn = self._connection()
        wanted = sorted(set(ids))
        try:
            by_kind = [(reader.kind, reader.rows(conn, wanted)) for reader in self._readers]
            conn.rollback()  # end the read transaction: never hold a snapshot open between chunks
        except SQLAlchemyError as exc:
            raise unavailable(self.engine, exc) from exc
        events: list[Event] = []
        for ind in ids:
            rows = {kind: found[ind] for kind, found in by_kind if ind in found}
            if "pin" in rows:
                events.append(Event(ind, rows))
        return events

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()
