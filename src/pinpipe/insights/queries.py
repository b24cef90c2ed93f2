"""The nine insight queries of DESIGN.md, each written once in the SQL subset DuckDB and Spark share.

They read three views, ``clean_pin``, ``clean_geo`` and ``clean_user`` (one row per ``ind``), and
return exactly the DESIGN columns, sorted by those columns left to right. Shared-subset choices:
``rank()`` (ties kept, never ``row_number()``), exact ``percentile_cont(0.5) WITHIN GROUP`` cast to
DOUBLE, explicit ``NULLS LAST`` (DuckDB and Spark default differently), years cast to INT (DuckDB's
``year()`` is BIGINT, Spark's INT), and a scalar subquery instead of a window over everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

VIEWS: dict[str, str] = {"pin": "clean_pin", "geo": "clean_geo", "user": "clean_user"}
# The columns of each view the queries below read: an engine may load just these, once, for all nine.
VIEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "pin": ("ind", "category", "follower_count", "poster_name"),
    "geo": ("ind", "country", "timestamp"),
    "user": ("ind", "user_name", "age", "date_joined"),
}

AGE_GROUP = (
    "CASE WHEN u.age BETWEEN 18 AND 24 THEN '18-24' WHEN u.age BETWEEN 25 AND 35 THEN '25-35'"
    " WHEN u.age BETWEEN 36 AND 50 THEN '36-50' WHEN u.age > 50 THEN '+50' END"
)
POST_YEAR = "CAST(year(g.timestamp) AS INT)"
JOIN_YEAR = "CAST(year(u.date_joined) AS INT)"
PIN_GEO = "clean_pin AS p INNER JOIN clean_geo AS g ON p.ind = g.ind"
PIN_USER = "clean_pin AS p INNER JOIN clean_user AS u ON p.ind = u.ind"
MEDIAN = "CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY p.follower_count) AS DOUBLE)"


@dataclass(frozen=True, slots=True)
class Insight:
    """One insight: its fixed name and output schema, and the one SQL text every engine runs."""

    name: str
    schema: pa.Schema
    body: str  # a SELECT producing the schema's columns, without ORDER BY

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    @property
    def sql(self) -> str:
        order = ", ".join(f"{c} ASC NULLS LAST" for c in self.columns)
        return f"SELECT * FROM ({self.body}) AS insight ORDER BY {order}"


def _top(group: str, item: str, rows: str, count: str = "category_count") -> str:
    """Rank 1 of ``count`` descending within ``group`` over ``rows`` (a subquery), ties kept."""
    return (
        f"SELECT {group}, {item}, {count} FROM (SELECT {group}, {item}, {count},"
        f" rank() OVER (PARTITION BY {group} ORDER BY {count} DESC) AS rk FROM ({rows}) AS grouped) AS ranked"
        " WHERE rk = 1"
    )


def _category_counts(group_expr: str, group: str, source: str, where: str = "1 = 1") -> str:
    return (
        f"SELECT {group_expr} AS {group}, p.category AS category, count(*) AS category_count"
        f" FROM {source} WHERE {where} GROUP BY {group_expr}, p.category"
    )


_TOP_USER_BY_COUNTRY = _top(
    "country",
    "poster_name",
    "SELECT g.country AS country, p.poster_name AS poster_name, max(p.follower_count) AS follower_count"
    f" FROM {PIN_GEO} WHERE p.poster_name IS NOT NULL AND p.follower_count IS NOT NULL"
    " GROUP BY g.country, p.poster_name",
    count="follower_count",
)

_STR, _I64, _I32, _F64 = pa.string(), pa.int64(), pa.int32(), pa.float64()


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in fields])


INSIGHTS: dict[str, Insight] = {
    i.name: i
    for i in (
        Insight(
            "top_category_by_country",
            _schema(("country", _STR), ("category", _STR), ("category_count", _I64)),
            _top("country", "category", _category_counts("g.country", "country", PIN_GEO)),
        ),
        Insight(
            "top_category_by_year",
            _schema(("post_year", _I32), ("category", _STR), ("category_count", _I64)),
            _top(
                "post_year",
                "category",
                _category_counts(POST_YEAR, "post_year", PIN_GEO, f"{POST_YEAR} BETWEEN 2018 AND 2022"),
            ),
        ),
        Insight(
            "top_user_by_country",
            _schema(("country", _STR), ("poster_name", _STR), ("follower_count", _I64)),
            _TOP_USER_BY_COUNTRY,
        ),
        Insight(
            "top_country_by_followers",
            _schema(("country", _STR), ("follower_count", _I64)),
            f"SELECT DISTINCT country, follower_count FROM ({_TOP_USER_BY_COUNTRY}) AS top_users"
            f" WHERE follower_count = (SELECT max(follower_count) FROM ({_TOP_USER_BY_COUNTRY}) AS all_top)",
        ),
        Insight(
            "top_category_by_age_group",
            _schema(("age_group", _STR), ("category", _STR), ("category_count", _I64)),
            _top(
                "age_group",
                "category",
                _category_counts(AGE_GROUP, "age_group", PIN_USER, f"({AGE_GROUP}) IS NOT NULL"),
            ),
        ),
        Insight(
            "median_followers_by_age_group",
            _schema(("age_group", _STR), ("median_follower_count", _F64)),
            f"SELECT {AGE_GROUP} AS age_group, {MEDIAN} AS median_follower_count FROM {PIN_USER}"
            f" WHERE p.follower_count IS NOT NULL AND ({AGE_GROUP}) IS NOT NULL GROUP BY {AGE_GROUP}",
        ),
        Insight(
            "users_joined_by_year",
            _schema(("post_year", _I32), ("number_users_joined", _I64)),
            "SELECT post_year, count(*) AS number_users_joined FROM (SELECT DISTINCT u.user_name,"
            f" u.date_joined, {JOIN_YEAR} AS post_year FROM clean_user AS u WHERE u.user_name IS NOT NULL"
            f" AND {JOIN_YEAR} BETWEEN 2015 AND 2020) AS users GROUP BY post_year",
        ),
        Insight(
            "median_followers_by_join_year",
            _schema(("post_year", _I32), ("median_follower_count", _F64)),
            f"SELECT {JOIN_YEAR} AS post_year, {MEDIAN} AS median_follower_count FROM {PIN_USER}"
            f" WHERE p.follower_count IS NOT NULL AND {JOIN_YEAR} BETWEEN 2015 AND 2020 GROUP BY {JOIN_YEAR}",
        ),
        Insight(
            "median_followers_by_join_year_and_age_group",
            _schema(("age_group", _STR), ("post_year", _I32), ("median_follower_count", _F64)),
            f"SELECT {AGE_GROUP} AS age_group, {JOIN_YEAR} AS post_year, {MEDIAN} AS median_follower_count"
            f" FROM {PIN_USER} WHERE p.follower_count IS NOT NULL AND ({AGE_GROUP}) IS NOT NULL"
            f" AND {JOIN_YEAR} BETWEEN 2015 AND 2020 GROUP BY {AGE_GROUP}, {JOIN_YEAR}",
        ),
    )
}


def get_insight(name: str) -> Insight:
    """The insight called ``name``; an unknown name lists the known ones."""
    from pinpipe.errors import ValidationError

    try:
        return INSIGHTS[name]
    except KeyError:
        raise ValidationError(f"unknown insight {name!r}", hint="known: " + ", ".join(INSIGHTS)) from None
