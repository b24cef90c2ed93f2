"""The one chart definition of the nine insights, shared by the live dashboard and the HTML report.

Python decides *what* each chart shows — which columns make a bar's label, its value, its colour, the
order, how many bars, the number format, the legend — and the world map of the per-country insights, so
the dashboard's JSON endpoint and the report's embedded data are the same thing; ``static/charts.js``
only hands them to the charting library (plotly.js, served from the ``plotly`` wheel). A test therefore
knows how many bars a dataset must give, and which colour each one has, by calling :func:`chart_data`.

Colours mean one thing everywhere: :data:`CATEGORY_COLORS` and :data:`AGE_GROUP_COLORS` are the only
colour maps, used by every chart, the map and every legend; a chart without a colour key draws every
bar in :data:`NEUTRAL` and has no legend.
"""

from __future__ import annotations

import textwrap
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any, Literal

import pyarrow as pa

from pinpipe.insights.queries import INSIGHTS

#: Age groups in reading order (the tables sort them as strings: ``+50`` first).
AGE_GROUPS: tuple[str, ...] = ("18-24", "25-35", "36-50", "+50")

#: Bars at most in a chart ranked by value (per-country tops have a row per country and tie).
TOP_BARS = 15
#: Bars at most in a chart kept in its natural order (years, age groups): a guard, rarely reached.
ORDERED_BARS = 40
#: Characters per line of a bar's label: longer labels wrap (at spaces) instead of being cut.
LABEL_WIDTH = 28

#: The colour of each Pinterest category (the generator's thirteen), wherever a category is drawn.
CATEGORY_COLORS: dict[str, str] = {
    "art": "#4e79a7",
    "beauty": "#f28e2b",
    "christmas": "#e15759",
    "diy-and-crafts": "#76b7b2",
    "education": "#59a14f",
    "event-planning": "#edc948",
    "finance": "#b07aa1",
    "home-decor": "#ff9da7",
    "mens-fashion": "#9c755f",
    "quotes": "#1f3a68",
    "tattoos": "#3d3d3d",
    "travel": "#17becf",
    "vehicles": "#bcbd22",
}
#: The colour of each age group: one blue, darker with age (an ordered key gets an ordered scale).
AGE_GROUP_COLORS: dict[str, str] = {"18-24": "#9ecae1", "25-35": "#4292c6", "36-50": "#2166ac", "+50": "#08306b"}
#: A value outside the maps above (a category the generator does not make) gets one of these, by a
#: hash of its name: the same colour in every chart, on every run.
OTHER_COLORS: tuple[str, ...] = ("#8c6d31", "#637939", "#7b4173", "#843c39", "#5254a3", "#6b6ecf", "#ad494a")
#: Bars of a chart without a colour key.
NEUTRAL = "#64748b"

COLOR_MAPS: dict[str, dict[str, str]] = {"category": CATEGORY_COLORS, "age_group": AGE_GROUP_COLORS}

#: Country names of the data (Faker's) that plotly.js's country-name rules do not recognise, as names
#: they do (checked in the browser test): the map places these, and still shows the data's name.
MAP_NAMES: dict[str, str] = {
    "Antarctica (the territory South of 60 deg S)": "Antarctica",
    "British Indian Ocean Territory (Chagos Archipelago)": "British Indian Ocean Territory",
    "Holy See (Vatican City State)": "Vatican City",
    "Libyan Arab Jamahiriya": "Libya",
    "Slovakia (Slovak Republic)": "Slovakia",
}

#: The chart the world map fills countries from, and the ones whose per-country rows its hover adds.
MAP_FILL = "top_category_by_country"
MAP_DETAILS = ("top_user_by_country",)


def color_of(column: str, value: str) -> str:
    """The one colour of ``value`` of the colour key ``column`` (``category`` or ``age_group``)."""
    known = COLOR_MAPS.get(column, {})
    if value in known:
        return known[value]
    return OTHER_COLORS[zlib.crc32(f"{column}={value}".encode()) % len(OTHER_COLORS)]


def _group_order(column: str, value: str) -> tuple[int, str]:
    known = list(COLOR_MAPS.get(column, {}))
    return (known.index(value), "") if value in known else (len(known), value)


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """How one insight table becomes one bar chart.

    ``order="value"`` shows the largest values first and cuts at ``limit`` (a top-N of countries);
    ``order="label"`` keeps the natural order of years and age groups and shows every row up to ``limit``.
    ``color`` names the column whose value picks a bar's colour (from :data:`COLOR_MAPS`).
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

    @property
    def legend(self) -> bool:
        """A legend only where colour says something the labels do not (not when it repeats the label)."""
        return self.color is not None and self.label != (self.color,)


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
        "category",
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


def number_format(values: list[float]) -> str:
    """The chart's one number format (a d3-format string, which plotly.js uses for the axis too):
    thousands separators, no decimals unless a value has some. Never ``41k`` beside ``7,000``."""
    return ",.0f" if all(float(v).is_integer() for v in values) else ",.1f"


def format_number(value: float, fmt: str) -> str:
    """``value`` as the d3 format ``fmt`` of :func:`number_format` writes it (``,.0f`` or ``,.1f``)."""
    return f"{value:,.1f}" if fmt == ",.1f" else f"{value:,.0f}"


def wrap_label(label: str, width: int = LABEL_WIDTH) -> list[str]:
    """A label as lines of at most ``width`` characters, broken at spaces where it can be: nothing is
    cut off, so two long labels that start alike never look the same."""
    return textwrap.wrap(label, width, break_on_hyphens=False) or [label]


def _label_key(spec: ChartSpec, row: Mapping[str, Any]) -> tuple[Any, ...]:
    key: list[Any] = []
    for column in spec.label:
        value = row.get(column)
        if column == "age_group":
            key.append(AGE_GROUPS.index(value) if value in AGE_GROUPS else len(AGE_GROUPS))
        key.append("" if value is None else value)
    return tuple(key)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _rows(spec: ChartSpec, table: pa.Table) -> list[dict[str, Any]]:
    """The rows with a value, ordered: by label, then (``order="value"``) largest value first."""
    rows = [r for r in table.to_pylist() if r.get(spec.value) is not None]
    rows.sort(key=lambda r: _label_key(spec, r))
    if spec.order == "value":
        rows.sort(key=lambda r: r[spec.value], reverse=True)  # stable: ties stay in label order
    return rows


def chart_bars(spec: ChartSpec, table: pa.Table) -> list[dict[str, Any]]:
    """The bars of one chart, ordered and cut: ``label`` (in full), ``lines`` (the label wrapped),
    ``value``, ``display`` (the value in the chart's number format), ``group`` (the colour key's value)
    and ``color``."""
    rows = _rows(spec, table)[: spec.limit]
    fmt = number_format([r[spec.value] for r in rows])
    bars = []
    for row in rows:
        label = " · ".join(_text(row.get(c)) for c in spec.label)
        group = None if spec.color is None or row.get(spec.color) is None else str(row[spec.color])
        value = float(row[spec.value])
        bars.append(
            {
                "label": label,
                "lines": wrap_label(label),
                "value": value,
                "display": format_number(value, fmt),
                "group": group,
                "color": NEUTRAL if spec.color is None or group is None else color_of(spec.color, group),
            }
        )
    return bars


def _legend(spec: ChartSpec, groups: list[str | None]) -> list[dict[str, str]]:
    if spec.color is None or not spec.legend:
        return []
    column = spec.color
    present = sorted({g for g in groups if g is not None}, key=lambda g: _group_order(column, g))
    return [{"group": g, "color": color_of(column, g)} for g in present]


def _bar_chart(spec: ChartSpec, table: pa.Table) -> dict[str, Any]:
    bars = chart_bars(spec, table)
    return {
        "kind": "bar",
        "name": spec.insight,
        "title": spec.title,
        "value_name": spec.value_name,
        "rows": table.num_rows,
        "number_format": number_format([b["value"] for b in bars]),
        "color_by": spec.color,
        "legend": _legend(spec, [b["group"] for b in bars]),
        "bars": bars,
    }


def _per_country(spec: ChartSpec, table: pa.Table) -> dict[str, list[dict[str, Any]]]:
    """Every row of a per-country insight by country (ties give a country several rows); never cut."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(spec, table):
        if row.get("country") is not None:
            out.setdefault(str(row["country"]), []).append(row)
    return out


def _detail(spec: ChartSpec, rows: list[dict[str, Any]]) -> str:
    """One line of a country's hover: the other label columns (ties joined) and the value."""
    names = ", ".join(dict.fromkeys(" · ".join(_text(r.get(c)) for c in spec.label if c != "country") for r in rows))
    fmt = number_format([r[spec.value] for r in rows])
    value = format_number(rows[0][spec.value], fmt)
    return f"{escape(spec.title)}: {escape(names)} ({value} {escape(spec.value_name)})"


def world_map(tables: Mapping[str, pa.Table]) -> dict[str, Any] | None:
    """The per-country insights on a world map: each country filled with the colour of its top
    category (the :data:`CATEGORY_COLORS` of the bar charts; a tie takes the first in name order), its
    hover naming the tie and the country's most-followed poster. Countries are matched by name
    (``location``: plotly.js's country-name rules, after :data:`MAP_NAMES`); ``charts.js`` lists the
    countries the map could not place (no shape at 1:50m, or a name it does not know)."""
    spec = CHART_SPECS[MAP_FILL]
    table = tables.get(MAP_FILL)
    if table is None or spec.color is None:
        return None
    column = spec.color
    details = {name: _per_country(CHART_SPECS[name], tables[name]) for name in MAP_DETAILS if name in tables}
    regions = []
    for country, rows in sorted(_per_country(spec, table).items()):
        group = _text(rows[0].get(column))
        lines = [f"<b>{escape(country)}</b>", _detail(spec, rows)]
        lines += [_detail(CHART_SPECS[name], found[country]) for name, found in details.items() if country in found]
        regions.append(
            {
                "country": country,
                "location": MAP_NAMES.get(country, country),
                "group": group,
                "color": color_of(column, group),
                "hover": "<br>".join(lines),
            }
        )
    return {
        "kind": "map",
        "name": "world_map",
        "title": f"{spec.title}, on the map",
        "insight": MAP_FILL,
        "color_by": column,
        "legend": _legend(spec, [r["group"] for r in regions]),
        "regions": regions,
    }


def chart_data(tables: Mapping[str, pa.Table]) -> list[dict[str, Any]]:
    """The world map, then every bar chart in the fixed order, as plain JSON-able data (what the
    dashboard and the report draw; ``kind`` tells which)."""
    charts: list[dict[str, Any]] = []
    mapped = world_map(tables)
    if mapped is not None:
        charts.append(mapped)
    for spec in CHARTS:
        table = tables.get(spec.insight)
        if table is not None:
            charts.append(_bar_chart(spec, table))
    return charts
