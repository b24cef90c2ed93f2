"""The three source tables, exactly as the seed's RDS MySQL database had them (``SELECT *`` order).

SQLAlchemy Core, so one definition creates the tables on SQLite, MySQL/MariaDB and PostgreSQL.
``index`` and ``timestamp`` are reserved words in MySQL: the columns are created with ``quote=True``
so every dialect emits them quoted. Latitude/longitude are ``DOUBLE`` (MySQL's ``FLOAT`` is single
precision and would not round-trip ``-173.293``). On SQLite, datetimes are stored as
``YYYY-MM-DD HH:MM:SS`` text, the format the emulators send, so the file reads naturally.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, Double, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects import sqlite

#: ``DateTime`` everywhere, second-resolution text on SQLite (SQLAlchemy's default adds microseconds).
SourceDateTime = DateTime().with_variant(
    sqlite.DATETIME(
        storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d",
        regexp=r"(\d+)-(\d+)-(\d+)[ T](\d+):(\d+):(\d+)",
    ),
    "sqlite",
)

#: MySQL: 4-byte UTF-8 (emoji) whatever the server's default character set is.
_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

metadata = MetaData()

pinterest_data = Table(
    "pinterest_data",
    metadata,
    Column("index", Integer, primary_key=True, autoincrement=False, quote=True),
    Column("unique_id", String(36)),
    Column("title", Text),
    Column("description", Text),
    Column("poster_name", Text),
    Column("follower_count", String(32)),
    Column("tag_list", Text),
    Column("is_image_or_video", String(64)),
    Column("image_src", Text),
    Column("downloaded", Integer),
    Column("save_location", Text),
    Column("category", String(64)),
    **_MYSQL,
)

geolocation_data = Table(
    "geolocation_data",
    metadata,
    Column("ind", Integer, primary_key=True, autoincrement=False),
    Column("timestamp", SourceDateTime, quote=True),
    Column("latitude", Double),
    Column("longitude", Double),
    Column("country", String(128)),
    **_MYSQL,
)

user_data = Table(
    "user_data",
    metadata,
    Column("ind", Integer, primary_key=True, autoincrement=False),
    Column("first_name", String(255)),
    Column("last_name", String(255)),
    Column("age", Integer),
    Column("date_joined", SourceDateTime),
    **_MYSQL,
)

#: The tables by the short name the topics use (``<prefix>.pin`` …).
TABLES: dict[str, Table] = {"pin": pinterest_data, "geo": geolocation_data, "user": user_data}

#: Each table's key column: the pin's ``index`` is the geo and user rows' ``ind``.
KEYS: dict[str, str] = {"pin": "index", "geo": "ind", "user": "ind"}

#: Column names per table, in ``SELECT *`` order.
COLUMNS: dict[str, tuple[str, ...]] = {kind: tuple(c.name for c in t.columns) for kind, t in TABLES.items()}
