"""Opening the source database from a SQLAlchemy URL, and the checks every verb shares.

Engines are made here and nowhere else so that the dialect details live in one place: SQLite files
get their folder created, MySQL connections are forced to ``utf8mb4`` (the default ``utf8`` of older
servers is 3-byte and drops emoji), and connection failures become one readable line.

Bare ``mysql://``, ``mariadb://`` and ``postgresql://`` URLs work as SQLAlchemy users expect: they
mean SQLAlchemy's default driver (mysqlclient, psycopg2) when that is installed, and otherwise the
driver pinpipe ships (PyMySQL, psycopg 3), rather than failing on a module the user never chose.
Verbs that only read the source (``source stats``, the emulators) open it ``readonly``: a missing
SQLite file is an error naming ``pinpipe source init``, and the file is opened in SQLite's read-only
mode, so a typo in ``--db`` never leaves an empty database (or folder) behind.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import URL, Connection, Engine, create_engine, event, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from pinpipe.errors import BackendUnavailableError, ConfigError
from pinpipe.settings import mask_url
from pinpipe.source.schema import TABLES, metadata

#: What to run when the source has no tables yet (or no file): the two verbs that create them.
FILL_HINT = "run `pinpipe source init`, or `pinpipe source load` to bring your own rows"

#: Bare scheme -> (SQLAlchemy's default driver module, the driver pinpipe installs, its URL scheme).
_BUNDLED_DRIVERS: dict[str, tuple[str, str, str]] = {
    "mysql": ("MySQLdb", "pymysql", "mysql+pymysql"),
    "mariadb": ("MySQLdb", "pymysql", "mariadb+pymysql"),
    "postgresql": ("psycopg2", "psycopg", "postgresql+psycopg"),
}

#: The URL to suggest per backend when a chosen driver is not installed.
_SUGGESTED = {"mysql": "mysql+pymysql://", "mariadb": "mariadb+pymysql://", "postgresql": "postgresql+psycopg://"}


class SourceMissingError(ConfigError):
    """The source database (its SQLite file, or its tables) does not exist yet."""


def open_engine(url: str, *, readonly: bool = False) -> Engine:
    """An engine for the source database at ``url``; nothing is connected yet.

    ``readonly`` is for verbs that only read: nothing is created, and a SQLite file must exist.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"source database URL {mask_url(url)!r} is not a SQLAlchemy URL: {exc}") from exc
    parsed = _with_installed_driver(parsed)
    backend = parsed.get_backend_name()
    sqlite_file = _sqlite_file(parsed) if backend == "sqlite" else None
    if sqlite_file is not None:
        if readonly and not sqlite_file.is_file():
            raise SourceMissingError(
                f"source database {mask_url(url)} does not exist",
                hint=f"{FILL_HINT}; or point --db / PINPIPE_SOURCE_URL at an existing database",
            )
        if not readonly:
            sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    elif backend in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    try:
        engine = create_engine(parsed)
    except NoSuchModuleError as exc:
        raise ConfigError(
            f"source database URL {mask_url(url)!r}: SQLAlchemy has no dialect {parsed.drivername!r}",
            hint="use sqlite:///FILE, mysql+pymysql://USER:PASS@HOST/DB or postgresql+psycopg://USER:PASS@HOST/DB",
        ) from exc
    except ImportError as exc:
        suggested = _SUGGESTED.get(backend)
        raise ConfigError(
            f"source database URL {mask_url(url)!r}: its driver is not installed ({exc})",
            hint=(
                f"use {suggested}…, whose driver comes with pinpipe, or pip install the driver you named"
                if suggested
                else "pip install the driver the URL names"
            ),
        ) from exc
    if readonly and backend == "sqlite":
        _open_sqlite_readonly(engine)
    return engine


def _with_installed_driver(url: URL) -> URL:
    """A bare ``mysql://``/``postgresql://`` URL on the driver pinpipe ships if SQLAlchemy's default is absent."""
    if "+" in url.drivername or url.drivername not in _BUNDLED_DRIVERS:
        return url
    default, bundled, scheme = _BUNDLED_DRIVERS[url.drivername]
    if find_spec(default) is None and find_spec(bundled) is not None:
        return url.set(drivername=scheme)
    return url


def _sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL; ``None`` in memory or for a ``uri=true`` URI (SQLite parses those)."""
    database = url.database
    if not database or database == ":memory:" or _is_uri(url):
        return None
    return Path(database).expanduser()


def _is_uri(url: URL) -> bool:
    return str(url.query.get("uri", "")).lower() in ("1", "true", "yes", "on")


def _open_sqlite_readonly(engine: Engine) -> None:
    """Connect in SQLite's read-only mode (``mode=ro``): a file deleted meanwhile is an error, never recreated."""

    @event.listens_for(engine, "do_connect")
    def readonly(dialect: Any, record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        filename = str(cargs[0])
        if filename == ":memory:":
            return
        if not cparams.get("uri"):  # a plain path (made absolute by the dialect): as a URI, escaped
            filename = "file:" + quote(filename)
        if "mode=" not in filename.partition("?")[2]:
            filename += ("&" if "?" in filename else "?") + "mode=ro"
        cargs[0] = filename
        cparams["uri"] = True


def describe(engine: Engine) -> str:
    """The engine's URL with the password masked, for messages."""
    return mask_url(engine.url.render_as_string(hide_password=False))


def unavailable(engine: Engine, exc: SQLAlchemyError) -> BackendUnavailableError:
    """One line for a database that cannot be reached or refused a statement."""
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return BackendUnavailableError(f"source database {describe(engine)}: {reason}")


def require_tables(conn: Connection, engine: Engine) -> None:
    """Refuse, up front, a source without the three tables: reading would fail on "no such table" mid-way."""
    present = set(inspect(conn).get_table_names())
    missing = [table.name for table in TABLES.values() if table.name not in present]
    if not missing:
        return
    if len(missing) == len(TABLES):
        what = "no pinterest tables"
    else:
        what = f"no table{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    raise SourceMissingError(f"the source database {describe(engine)} has {what}", hint=FILL_HINT)


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
