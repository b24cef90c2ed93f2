"""`source init`: create the tables and fill them with generated events, in one transaction.

The rows go in one transaction, so a failed or interrupted init leaves empty tables (``--replace``
drops the old ones first, in its own step), never half an event set; chunked ``executemany`` inserts
keep memory flat at any size.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from pinpipe.errors import PinpipeError, ValidationError
from pinpipe.source.db import create_tables, describe, row_counts, unavailable
from pinpipe.source.generator import DEFAULT_CHUNK, DEFAULT_ROWS, DEFAULT_SEED, generate
from pinpipe.source.schema import geolocation_data, pinterest_data, user_data


def ensure_empty(engine: Engine) -> None:
    """Refuse a database whose tables hold rows: two datasets mixed would clash on ``ind``."""
    filled = {kind: n for kind, n in row_counts(engine).items() if n}
    if filled:
        counts = ", ".join(f"{n:,} {kind} rows" for kind, n in filled.items())
        raise PinpipeError(
            f"source database {describe(engine)} is not empty ({counts})",
            hint="pass --replace to drop and regenerate it",
        )


def populate(
    engine: Engine,
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    *,
    replace: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Create the three tables and write ``rows`` generated events; returns the number written.

    Refuses to append to tables that already hold rows (two datasets mixed would have clashing
    ``ind``s and meaningless statistics) unless ``replace`` drops them first.
    """
    if rows < 0:
        raise ValidationError(f"rows must be >= 0, got {rows}")
    if not replace:
        ensure_empty(engine)
    create_tables(engine, replace=replace)
    written = 0
    try:
        with engine.begin() as conn:
            for chunk in generate(rows, seed, chunk_size):
                conn.execute(pinterest_data.insert(), chunk.pins)
                conn.execute(geolocation_data.insert(), chunk.geos)
                conn.execute(user_data.insert(), chunk.users)
                written += len(chunk.pins)
                if on_progress is not None:
                    on_progress(len(chunk.pins))
    except SQLAlchemyError as exc:
        raise unavailable(engine, exc) from exc
    return written
