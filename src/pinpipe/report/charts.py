"""The one chart definition of the nine insights, shared by the live dashboard and the HTML report.

Python decides *what* each chart shows (which columns make a bar's label, its value, its colour, the
order, how many bars), so the dashboard's JSON endpoint and the report's embedded data are the same
thing; ``static/charts.js`` only draws the bars it is given. A test therefore knows how many bars a
dataset must give by calling :func:`chart_data` on the same tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from pinpipe.insights.queries import INSIGHTS

#: Age groups in reading order (the tables sort them as strings: ``+50`` first).
AGE_GROUPS: tuple[str, ...] = ("18-24", "25-35", "36-50", "+50")

#: Bars at most in a chart ranked by value (per-country tops have a row per country and tie).
TOP_BARS = 15
#: Bars at most in a chart kept in its natural order (years, age groups): a guard, rarely reached.
ORDERED_BARS = 40


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """How one insight table becomes one bar chart.

    ``order="value"`` shows the largest values first and cuts at ``limit`` (a top-N of countries);
    ``order="label"`` keeps the natural order of years and age groups and shows every row up to ``limit``.
    """

    insight: str
    title: str
    label: tuple[str, ...]
    value: str
    value_name: str
    order: Literal["value", "label"]
    color: str | None = None

    @property
    def limit(self) -> int:
        return TOP_BARS if self.order == "value" else ORDERED_BARS


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        "top_category_by_country",
        "Top category per country",
        ("country", "category"),
        "category_count",
        "posts",
        "value",
        "category",
    ),
    ChartSpec(
        "top_category_by_year",
        "Top category per post year",
        ("post_year", "category"),
        "category_count",
        "posts",
        "label",
        "category",
    ),
    ChartSpec(
        "top_user_by_country",
        "Most-followed poster per country",
        ("country", "poster_name"),
        "follower_count",
        "followers",
        "value",
    ),
    ChartSpec(
        "top_country_by_followers",
        "Country of the most-followed poster",
        ("country",),
        "follower_count",
        "followers",
        "value",
    ),
    ChartSpec(
        "top_category_by_age_group",
        "Top category per age group",
        ("age_group", "category"),
        "category_count",
        "posts",
        "label",
        "age_group",
    ),
    ChartSpec(
        "median_followers_by_age_group",
        "Median followers per age group",
        ("age_group",),
        "median_follower_count",
        "median followers",
        "label",
        "age_group",
    ),
    ChartSpec(
        "users_joined_by_year",
        "Users joined per year",
        ("post_year",),
        "number_users_joined",
        "users",
        "label",
    ),
    ChartSpec(
        "median_followers_by_join_year",
        "Median followers per join year",
        ("post_year",),
        "median_follower_count",
        "median followers",
        "label",
    ),
    ChartSpec(
        "median_followers_by_join_year_and_age_group",
        "Median followers per age group and join year",
        ("age_group", "post_year"),
        "median_follower_count",
        "median followers",
        "label",
        "age_group",
    ),
)

CHART_SPECS: dict[str, ChartSpec] = {spec.insight: spec for spec in CHARTS}
assert set(CHART_SPECS) == set(INSIGHTS), "every insight has exactly one chart"


def _label_key(spec: ChartSpec, row: Mapping[str, Any]) -> tuple[Any, ...]:
    key: list[Any] = []
    for column in spec.label:
        value = row.get(column)
        if column == "age_group":
            key.append(AGE_GROUPS.index(value) if value in AGE_GROUPS else len(AGE_GROUPS))
        key.append("" if value is None else value)
    return tuple(key)


def chart_bars(spec: ChartSpec, table: pa.Table) -> list[dict[str, Any]]:
    """The bars of one chart: ``label``, ``value`` and ``group`` (colour key), already ordered and cut."""
    rows = [r for r in table.to_pylist() if r.get(spec.value) is not None]
    if spec.order == "value":
        rows.sort(key=lambda r: _label_key(spec, r))
        rows.sort(key=lambda r: r[spec.value], reverse=True)  # stable: ties stay in label order
    else:
        rows.sort(key=lambda r: _label_key(spec, r))
    bars = []
    for row in rows[: spec.limit]:
        label = " · ".join("" if row.get(c) is None else str(row[c]) for c in spec.label)
        group = None if spec.color is None else row.get(spec.color)
        bars.append({"label": label, "value": float(row[spec.value]), "group": None if group is None else str(group)})
    return bars


def chart_data(tables: Mapping[str, pa.Table]) -> list[dict[str, Any]]:
    """Every chart, in the fixed order, as plain JSON-able data (what the dashboard and report draw)."""
    charts = []
    for spec in CHARTS:
        table = tables.get(spec.insight)
        if table is None:
            continue
        charts.append(
            {
                "name": spec.insight,
                "title": spec.title,
                "value_name": spec.value_name,
                "rows": table.num_rows,
                "bars": chart_bars(spec, table),
            }
        )
    return charts
