"""Opening the source database from a SQLAlchemy URL, and the checks every verb shares.

Engines are made here and nowhere else so that the dialect details live in one place: SQLite files
get their folder created, MySQL connections are forced to ``utf8mb4`` (the default ``utf8`` of older
servers is 3-byte and drops emoji), and connection failures become one readable line.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from pinpipe.errors import BackendUnavailableError, ConfigError
from pinpipe.settings import mask_url
from pinpipe.source.schema import TABLES, metadata


def open_engine(url: str) -> Engine:
    """An engine for the source database at ``url``; nothing is connected yet."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"source database URL {mask_url(url)!r} is not a SQLAlchemy URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    elif backend in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    try:
        return create_engine(parsed)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"no SQLAlchemy driver for {mask_url(url)!r}: {exc}") from exc


def describe(engine: Engine) -> str:
    """The engine's URL with the password masked, for messages."""
    return mask_url(engine.url.render_as_string(hide_password=False))


def unavailable(engine: Engine, exc: SQLAlchemyError) -> BackendUnavailableError:
    """One line for a database that cannot be reached or refused a statement."""
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return BackendUnavailableError(f"source database {describe(engine)}: {reason}")


def row_counts(engine: Engine) -> dict[str, int | None]:
    """Rows per table (``None`` for a table that does not exist yet)."""
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            return {
                kind: (
                    conn.execute(select(func.count()).select_from(table)).scalar_one()
                    if table.name in present
                    else None
                )
                for kind, table in TABLES.items()
            }
    except SQLAlchemyError as exc:
        raise unavailable(engine, exc) from exc


def create_tables(engine: Engine, *, replace: bool = False) -> None:
    """Create the three tables (``replace`` drops them first: their rows are gone)."""
    try:
        with engine.begin() as conn:
            if replace:
                metadata.drop_all(conn)
            metadata.create_all(conn)
    except SQLAlchemyError as exc:
        raise unavailable(engine, exc) from exc
