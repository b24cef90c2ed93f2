"""Reading events back: what the emulators use to pick and send events.

An event is the pin row and, when they exist, its geo and user rows (real data has gaps). Rows come
back as dicts in ``SELECT *`` column order with ``datetime`` values; formatting them for the wire
(``YYYY-MM-DD HH:MM:SS``) is the sender's job. Reading goes in batches of ``batch_size`` keys, so
memory stays flat however many events are asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError

from pinpipe.source.db import require_tables, unavailable
from pinpipe.source.schema import geolocation_data, pinterest_data, user_data

Row = dict[str, Any]


@dataclass(frozen=True)
class SourceEvent:
    """One posting event: the rows that share ``index`` = ``ind``."""

    ind: int
    pin: Row
    geo: Row | None
    user: Row | None


def event_inds(engine: Engine) -> list[int]:
    """Every event's ``ind`` (the pins' ``index``), ascending: what the emulators sample from."""
    try:
        with engine.connect() as conn:
            require_tables(conn, engine)
            key = pinterest_data.c["index"]
            return list(conn.execute(select(key).order_by(key)).scalars())
    except SQLAlchemyError as exc:
        raise unavailable(engine, exc) from exc


def iter_events(engine: Engine, inds: Iterable[int] | None = None, *, batch_size: int = 500) -> Iterator[SourceEvent]:
    """The events of ``inds`` in the order given (all events by ``ind`` when ``None``).

    An ``ind`` without a pin row is skipped: there is no event to send.
    """
    try:
        with engine.connect() as conn:
            require_tables(conn, engine)
            if inds is None:
                yield from _all_events(conn, batch_size)
                return
            keys = iter(inds)
            while batch := list(islice(keys, batch_size)):
                yield from _events(conn, batch)
    except SQLAlchemyError as exc:
        raise unavailable(engine, exc) from exc


def _all_events(conn: Connection, batch_size: int) -> Iterator[SourceEvent]:
    key = pinterest_data.c["index"]
    last: int | None = None
    while True:
        query = select(key).order_by(key).limit(batch_size)
        if last is not None:
            query = query.where(key > last)
        batch = list(conn.execute(query).scalars())
        if not batch:
            return
        yield from _events(conn, batch)
        last = batch[-1]


def _events(conn: Connection, batch: list[int]) -> Iterator[SourceEvent]:
    wanted = set(batch)
    pins = {
        r["index"]: dict(r)
        for r in conn.execute(select(pinterest_data).where(pinterest_data.c["index"].in_(wanted))).mappings()
    }
    geos = {
        r["ind"]: dict(r)
        for r in conn.execute(select(geolocation_data).where(geolocation_data.c.ind.in_(wanted))).mappings()
    }
    users = {r["ind"]: dict(r) for r in conn.execute(select(user_data).where(user_data.c.ind.in_(wanted))).mappings()}
    for ind in batch:
        if ind in pins:
            yield SourceEvent(ind=ind, pin=pins[ind], geo=geos.get(ind), user=users.get(ind))
