"""`source load`: bring your own rows, as JSON lines whose keys are the column names.

Every row is validated before anything is written (types, required and unknown keys, duplicate
keys), and the whole load is one transaction: a bad line anywhere means an error naming
``file:line`` and the reason, and the database unchanged. Real data has gaps both ways, and the
load takes them as they are:

- a pin may lack its geo or user row: the pin is loaded, and the emulators send the rows that exist;
- a geo or user row may have no pin (the original topics hold such test posts): it is *skipped*,
  counted, and its ``ind`` reported (the first few), because no event could carry it and the
  insights join on the pin anyway. Refusing the whole file for it would refuse real data.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from pinpipe.errors import PinpipeError, ValidationError
from pinpipe.source.db import create_tables, unavailable
from pinpipe.source.schema import COLUMNS, KEYS, TABLES

BATCH_ROWS = 5_000

Check = Callable[[Any], Any]


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, got {_show(value)}")
    return value


def _text(limit: int | None = None) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {_show(value)}")
        if limit is not None and len(value) > limit:
            raise ValueError(f"must be at most {limit} characters, got {len(value)}")
        return value

    return check


def _uuid(value: Any) -> str:
    _text(36)(value)
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValueError(f"must be a UUID, got {_show(value)}") from None
    return value


def _downloaded(value: Any) -> int:
    if _integer(value) not in (0, 1):
        raise ValueError(f"must be 0 or 1, got {_show(value)}")
    return value


def _age(value: Any) -> int:
    if not 0 <= _integer(value) <= 150:
        raise ValueError(f"must be an age between 0 and 150, got {value}")
    return value


def _degrees(limit: float) -> Check:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"must be a number, got {_show(value)}")
        if not -limit <= value <= limit:
            raise ValueError(f"must be between -{limit:g} and {limit:g}, got {value}")
        return float(value)

    return check


def _datetime(value: Any) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` (what the emulators send) or ISO 8601; an offset is converted to UTC."""
    if not isinstance(value, str):
        raise ValueError(f"must be a datetime string 'YYYY-MM-DD HH:MM:SS', got {_show(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be a datetime 'YYYY-MM-DD HH:MM:SS', got {_show(value)}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


#: How each column is checked; the key columns are the only ones that may not be null.
CHECKS: dict[str, dict[str, Check]] = {
    "pin": {
        "index": _integer,
        "unique_id": _uuid,
        "title": _text(),
        "description": _text(),
        "poster_name": _text(),
        "follower_count": _text(32),
        "tag_list": _text(),
        "is_image_or_video": _text(64),
        "image_src": _text(),
        "downloaded": _downloaded,
        "save_location": _text(),
        "category": _text(64),
    },
    "geo": {
        "ind": _integer,
        "timestamp": _datetime,
        "latitude": _degrees(90),
        "longitude": _degrees(180),
        "country": _text(128),
    },
    "user": {
        "ind": _integer,
        "first_name": _text(255),
        "last_name": _text(255),
        "age": _age,
        "date_joined": _datetime,
    },
}
assert {k: tuple(v) for k, v in CHECKS.items()} == COLUMNS, "CHECKS must list every column in order"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_row(kind: str, row: Any) -> dict[str, Any]:
    """One row of table ``kind`` (``pin``, ``geo``, ``user``) as typed values; ``ValueError`` says why not."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object with the {TABLES[kind].name} columns, got {_show(row)}")
    columns = COLUMNS[kind]
    unknown = [k for k in row if k not in CHECKS[kind]]
    if unknown:
        raise ValueError(
            f"unknown key(s) {', '.join(map(repr, unknown))}; {TABLES[kind].name} has {', '.join(columns)}"
        )
    missing = [c for c in columns if c not in row]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(map(repr, missing))}")
    out: dict[str, Any] = {}
    for column, check in CHECKS[kind].items():
        value = row[column]
        if value is None and column != KEYS[kind]:
            out[column] = None
            continue
        try:
            out[column] = check(value)
        except ValueError as exc:
            raise ValueError(f"{column!r} {exc}") from None
    return out


#: How many skipped ``ind``s a load reports by number (the count is always whole).
SHOWN_SKIPPED = 10


@dataclass(frozen=True)
class LoadResult:
    """What a load wrote, how many pins lack their geo or user row, and the rows skipped for lack of a pin."""

    pins: int
    geos: int
    users: int
    pins_without_geo: int
    pins_without_user: int
    geos_skipped: int = 0
    users_skipped: int = 0
    #: The first :data:`SHOWN_SKIPPED` skipped ``ind``s of each file, in file order.
    skipped_geo_inds: tuple[int, ...] = ()
    skipped_user_inds: tuple[int, ...] = ()

    def summary(self, where: str) -> str:
        """The one line `source load` prints: what went in, the gaps, and what was skipped and why."""
        line = (
            f"loaded {self.pins:,} pin, {self.geos:,} geo and {self.users:,} user rows into {where}; "
            f"{self.pins_without_geo:,} pins have no geo row, {self.pins_without_user:,} no user row"
        )
        skipped = [
            _skipped(kind, count, inds)
            for kind, count, inds in (
                ("geo", self.geos_skipped, self.skipped_geo_inds),
                ("user", self.users_skipped, self.skipped_user_inds),
            )
            if count
        ]
        if skipped:
            line += f"; skipped {' and '.join(skipped)} (no pin row for their ind)"
        return line


def _skipped(kind: str, count: int, inds: tuple[int, ...]) -> str:
    shown = ", ".join(map(str, inds)) + (", …" if count > len(inds) else "")
    return f"{count:,} {kind} row{'s' if count != 1 else ''} (ind {shown})"


def _rows(path: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise PinpipeError(f"cannot read {kind} file {str(path)!r}: {exc.strerror or exc}") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = orjson.loads(raw)  # strict UTF-8, as the database must hold valid text
                yield number, validate_row(kind, row)
            except (orjson.JSONDecodeError, ValueError) as exc:
                reason = f"not valid JSON: {exc}" if isinstance(exc, orjson.JSONDecodeError) else str(exc)
                raise ValidationError(f"{path}:{number}: {reason}") from None


def _existing_pins(conn: Connection) -> set[int]:
    key = TABLES["pin"].c[KEYS["pin"]]
    return set(conn.execute(select(key)).scalars())


def load(engine: Engine, pin: Path, geo: Path, user: Path) -> LoadResult:
    """Validate the three files and insert their rows, all or nothing; geo/user rows without a pin are skipped."""
    create_tables(engine)
    counts: dict[str, int] = {}
    keys: dict[str, set[int]] = {}
    skipped: dict[str, list[int]] = {"geo": [], "user": []}
    skipped_count: dict[str, int] = {"geo": 0, "user": 0}
    try:
        with engine.begin() as conn:
            pins = _existing_pins(conn)
            for kind, path in (("pin", pin), ("geo", geo), ("user", user)):
                seen: set[int] = set()
                loaded: set[int] = set()
                batch: list[dict[str, Any]] = []
                for number, row in _rows(path, kind):
                    key = row[KEYS[kind]]
                    if key in seen:
                        raise ValidationError(f"{path}:{number}: {KEYS[kind]} {key} appears twice in this file")
                    seen.add(key)
                    if kind == "pin" and key in pins:
                        raise ValidationError(f"{path}:{number}: index {key} is already in the database")
                    if kind != "pin" and key not in pins and key not in keys["pin"]:
                        skipped_count[kind] += 1
                        if len(skipped[kind]) < SHOWN_SKIPPED:
                            skipped[kind].append(key)
                        continue
                    loaded.add(key)
                    batch.append(row)
                    if len(batch) >= BATCH_ROWS:
                        conn.execute(TABLES[kind].insert(), batch)
                        batch = []
                if batch:
                    conn.execute(TABLES[kind].insert(), batch)
                keys[kind], counts[kind] = loaded, len(loaded)
    except IntegrityError as exc:
        raise PinpipeError(
            f"rows clash with rows already in the source database: {str(exc.orig).splitlines()[0]}",
            hint="load into an empty database, e.g. after `pinpipe source init --replace --rows 0`",
        ) from exc
    except SQLAlchemyError as exc:
        raise unavailable(engine, exc) from exc
    return LoadResult(
        pins=counts["pin"],
        geos=counts["geo"],
        users=counts["user"],
        pins_without_geo=len(keys["pin"] - keys["geo"]),
        pins_without_user=len(keys["pin"] - keys["user"]),
        geos_skipped=skipped_count["geo"],
        users_skipped=skipped_count["user"],
        skipped_geo_inds=tuple(skipped["geo"]),
        skipped_user_inds=tuple(skipped["user"]),
    )
