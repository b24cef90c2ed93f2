"""`source stats`: what is in the source database, and how dirty it is.

A user loading their own data, or checking a generated set, sees the same figures DESIGN.md states
for the real data: row counts, each placeholder class and its rate, the media mix, the
``follower_count`` text patterns and the category spread. Aggregation runs in the database, so the
figures come quickly on millions of rows and on every dialect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, case, exists, func, select
from sqlalchemy.exc import SQLAlchemyError

from pinpipe.source.db import row_counts, unavailable
from pinpipe.source.generator import (
    IMAGE_SRC_ERROR,
    NO_DESCRIPTION,
    NO_DESCRIPTION_STORY,
    NO_TAGS,
    NO_TITLE,
    UNTITLED,
    USER_INFO_ERROR,
)
from pinpipe.source.schema import geolocation_data, pinterest_data, user_data

#: Every placeholder class of DESIGN.md: (column, exact stored string).
PLACEHOLDERS: tuple[tuple[str, str], ...] = (
    ("title", NO_TITLE),
    ("description", NO_DESCRIPTION_STORY),
    ("description", NO_DESCRIPTION),
    ("description", UNTITLED),
    ("poster_name", USER_INFO_ERROR),
    ("follower_count", USER_INFO_ERROR),
    ("tag_list", NO_TAGS),
    ("image_src", IMAGE_SRC_ERROR),
)

_PATTERNS = (
    ("<n>k", re.compile(r"\d+k"), 1_000),
    ("<n>M", re.compile(r"\d+M"), 1_000_000),
    ("digits", re.compile(r"\d+"), 1),
)


def follower_pattern(text: str | None) -> tuple[str, int | None]:
    """The pattern class of a raw ``follower_count`` and the number it stands for (``None`` if none)."""
    if text is None:
        return "null", None
    for name, pattern, scale in _PATTERNS:
        if pattern.fullmatch(text):
            return name, int(text.rstrip("kM")) * scale
    return (USER_INFO_ERROR if text == USER_INFO_ERROR else "other"), None


@dataclass
class SourceStats:
    """The figures `source stats` prints; rates are fractions of pin rows."""

    counts: dict[str, int | None]
    placeholders: list[tuple[str, str, int]] = field(default_factory=list)
    media: dict[str, int] = field(default_factory=dict)
    follower_patterns: dict[str, int] = field(default_factory=dict)
    max_followers: int | None = None
    categories: dict[str, int] = field(default_factory=dict)
    pins_without_geo: int = 0
    pins_without_user: int = 0
    countries: int = 0
    persons: int = 0

    @property
    def pins(self) -> int:
        return self.counts.get("pin") or 0

    def rate(self, count: int) -> float:
        return count / self.pins if self.pins else 0.0


def collect(engine: Engine) -> SourceStats:
    """Compute the statistics; tables that do not exist yet count as ``None`` and add nothing."""
    stats = SourceStats(counts=row_counts(engine))
    if not stats.pins:
        return stats
    pin, geo, user = pinterest_data.c, geolocation_data.c, user_data.c
    try:
        with engine.connect() as conn:
            sums = [func.sum(case((pin[column] == value, 1), else_=0)) for column, value in PLACEHOLDERS]
            found = conn.execute(select(*sums)).one()
            stats.placeholders = [(c, v, int(n or 0)) for (c, v), n in zip(PLACEHOLDERS, found, strict=True)]
            stats.media = _grouped(
                conn.execute(select(pin.is_image_or_video, func.count()).group_by(pin.is_image_or_video))
            )
            stats.categories = _grouped(conn.execute(select(pin.category, func.count()).group_by(pin.category)))
            for text, n in conn.execute(select(pin.follower_count, func.count()).group_by(pin.follower_count)):
                pattern, value = follower_pattern(text)
                stats.follower_patterns[pattern] = stats.follower_patterns.get(pattern, 0) + n
                if value is not None and (stats.max_followers is None or value > stats.max_followers):
                    stats.max_followers = value
            if stats.counts.get("geo") is not None:
                has_geo = exists().where(geo.ind == pin["index"])
                stats.pins_without_geo = conn.execute(
                    select(func.count()).select_from(pinterest_data).where(~has_geo)
                ).scalar_one()
                stats.countries = conn.execute(select(func.count(geo.country.distinct()))).scalar_one()
            if stats.counts.get("user") is not None:
                has_user = exists().where(user.ind == pin["index"])
                stats.pins_without_user = conn.execute(
                    select(func.count()).select_from(pinterest_data).where(~has_user)
                ).scalar_one()
                people = select(user.first_name, user.last_name, user.date_joined).distinct().subquery()
                stats.persons = conn.execute(select(func.count()).select_from(people)).scalar_one()
    except SQLAlchemyError as exc:
        raise unavailable(engine, exc) from exc
    return stats


def _grouped(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    return dict(sorted(((str(k), int(n)) for k, n in rows), key=lambda kv: (-kv[1], kv[0])))
