"""The dashboard and the report in a real Chromium (playwright, the system's /usr/bin/chromium).

Known dataset: the thirteen hand-checked events of tests/insights/test_hand_checked.py, run through
the batch job, so each chart's number of bars is known from the hand-worked tables. A real
``pinpipe api`` serves the dashboard; records posted to it during the test must move its counters
and its live records/s chart (waited for by polling the DOM, bounded). The charts are plotly.js's
SVG: what is asserted is what it drew — bar and country fills, tick titles, axis text. A report of
real country names checks the world map and the colour key across charts. Screenshots land in
test-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pinpipe.cli import main
from pinpipe.report.charts import CATEGORY_COLORS, MAP_NAMES, chart_data
from pinpipe.reports import STREAM_JOB_FILE, report_file, write_json
from pinpipe.settings import get_settings
from tests import services
from tests.report.dataset import DEAD_LETTERS, expected_bars, hand_checked_warehouse
from tests.support.gateway import GatewayURL

pytestmark = pytest.mark.services

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        services.unavailable("playwright", "pip install -e '.[dev]'")
    if not Path(CHROMIUM).exists():
        services.unavailable("Chromium", "apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Page:
    """A page plus what went wrong in it: console errors, uncaught exceptions, requests made."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        page.on("request", lambda r: self.requests.append(r.url))

    def text(self, selector: str) -> str:
        return (self.page.text_content(selector) or "").strip()

    def bars(self) -> dict[str, int]:
        """Bars plotly.js drew, per chart."""
        counts: dict[str, int] = {}
        for chart in self.page.locator("figure.chart").all():
            counts[chart.get_attribute("data-chart") or ""] = chart.locator(".barlayer g.point path").count()
        return counts

    def fills(self) -> dict[str, dict[str, set[str]]]:
        """Per figure, the fills drawn for each colour group: bars, map countries and legend swatches.

        plotly.js draws one trace per group (charts.js makes them so), in the order of the figure's data."""
        return self.page.evaluate(
            """() => {
              const out = {};
              for (const fig of document.querySelectorAll("figure.chart, figure.map")) {
                const plot = fig.querySelector(".plot");
                if (!plot || !plot.data) continue;
                const groups = {};
                const add = (name, fill) => { (groups[name] = groups[name] || []).push(fill); };
                fig.querySelectorAll(".barlayer g.trace, .choroplethlayer g.trace").forEach((trace, i) => {
                  trace.querySelectorAll("g.point path, path.choroplethlocation").forEach(
                    (p) => add(plot.data[i].name, getComputedStyle(p).fill));
                });
                fig.querySelectorAll(".legend g.traces").forEach((t) => {
                  const swatch = t.querySelector(".legendpoints path");
                  const fill = swatch ? getComputedStyle(swatch).fill : "";
                  if (fill.startsWith("rgb")) add("legend:" + t.querySelector(".legendtext").textContent, fill);
                });
                out[fig.dataset.chart] = groups;
              }
              return out;
            }"""
        )

    def tick_titles(self, chart: str) -> list[str]:
        """The full labels of a bar chart's y ticks (their SVG <title>s)."""
        return self.page.eval_on_selector_all(
            f"figure[data-chart={chart}] .ytick text title", "titles => titles.map(t => t.textContent)"
        )

    def wait_for_text_change(self, selector: str, before: str) -> str:
        self.page.wait_for_function(
            "([sel, old]) => { const e = document.querySelector(sel); return e && e.textContent.trim() !== old; }",
            arg=[selector, before],
            timeout=WAIT_MS,
        )
        return self.text(selector)


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield Page(context.new_page())
    finally:
        context.close()


@pytest.fixture
def warehouse(home: Path) -> Path:
    hand_checked_warehouse()
    return home


def test_dashboard_shows_the_insights_and_its_counters_follow_the_events(
    warehouse: Path, gateway: GatewayURL, page: Page
) -> None:
    page.page.goto(f"{gateway}/")
    page.page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)

    assert page.page.locator("figure.chart").count() == 9
    assert page.bars() == expected_bars()
    assert page.text("#dead-letters") == str(DEAD_LETTERS)
    assert page.text("#records-total") == "0"  # the lake was written directly: the log is empty
    # Countries A, B and C have no shape: the map says so instead of silently drawing nothing.
    assert page.page.get_attribute("figure.map", "data-regions") == "3"
    assert page.page.get_attribute("figure.map", "data-placed") == "0"
    assert page.text("figure.map .map-missing").endswith(": A, B, C")
    # The same category, the same colour, in every chart and legend (art: two bar charts).
    fills = page.fills()
    art = {f for groups in fills.values() for g, found in groups.items() if g in ("art", "legend:art") for f in found}
    assert art == {rgb(CATEGORY_COLORS["art"])}
    assert len(fills["top_category_by_year"]["legend:art"]) == 1
    # The live chart gains a sample per status poll (every 1.5 s), kept in the page.
    samples = int(page.page.get_attribute("#live-chart", "data-samples") or "0")
    page.page.wait_for_function(
        "n => Number(document.querySelector('#live-chart').dataset.samples) >= n + 2", arg=samples, timeout=WAIT_MS
    )

    # Events flow through the Kafka REST route: the counters must move on the page.
    pins = [{"value": {"index": 100 + i, "category": "art"}} for i in range(5)]
    with httpx.Client(base_url=gateway, timeout=10) as client:
        answer = client.post("/topics/pinterest.pin", json={"records": pins})
        assert answer.status_code == 200, answer.text
        assert page.wait_for_text_change("#records-total", "0") == "5"
        assert page.text("#sink-lag") == "5"  # no sink runs here: all five are waiting for it

        # ... and through the Kinesis route.
        records = [{"Data": {"ind": 100 + i, "country": "A"}, "PartitionKey": str(i)} for i in range(3)]
        answer = client.put("/streams/streaming-pinterest-geo/records", json={"Records": records})
        assert answer.status_code == 200 and answer.json()["FailedRecordCount"] == 0, answer.text
        assert page.wait_for_text_change("#records-total", "5") == "8"
        assert page.text("#stream-lag") == "3"
    # The records/s series saw the records arrive: a sample above zero among its points.
    page.page.wait_for_function(
        "() => document.getElementById('timeseries').data[0].y.some(v => v > 0)", timeout=WAIT_MS
    )
    drawn = page.page.locator("#timeseries .scatterlayer path.js-line").first.get_attribute("d") or ""
    assert drawn.count("L") >= 2, "the records/s line is drawn through its samples"
    # A running stream job's p99 (its status file, written by this live process) joins the series.
    job = {"running": True, "pid": os.getpid(), "records": 3, "p50_ms": 12.0, "p99_ms": 42.0}
    write_json(report_file(get_settings(), STREAM_JOB_FILE), job)
    page.page.wait_for_function("() => document.getElementById('timeseries').data[1].y.includes(42)", timeout=WAIT_MS)
    assert page.wait_for_text_change("#stream-p99", "–") == "42 ms"

    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert page.problems == []
    outside = [u for u in page.requests if not u.startswith(gateway)]
    assert outside == [], "the dashboard loads nothing from elsewhere"


def test_report_renders_offline_with_the_same_charts(warehouse: Path, tmp_path: Path, page: Page) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "--out", str(out)]) == 0
    page.page.goto(out.as_uri())
    page.page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)

    assert page.bars() == expected_bars()
    assert page.text("#dead-letters") == str(DEAD_LETTERS)
    assert [u for u in page.requests if u != out.as_uri()] == [], "a report requests nothing"
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert page.problems == []


def rgb(color: str) -> str:
    """``#rrggbb`` as a browser's computed style writes it."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


LONG = "British Indian Ocean Territory (Chagos Archipelago)"


def test_report_map_colours_and_labels_of_real_country_names(tmp_path: Path, page: Page) -> None:
    """Real names: the map fills the countries in their top category's colour, the colour of that
    category in the bar charts and legends too; two long labels that start alike stay apart, in full."""
    import pyarrow as pa

    from pinpipe.report.page import report_html

    countries = ["Germany", "France", "Brazil", LONG, LONG, *MAP_NAMES]
    categories = ["art", "travel", "art", "art", "travel", *["beauty"] * len(MAP_NAMES)]
    tables = {
        "top_category_by_country": pa.table(
            {"country": countries, "category": categories, "category_count": list(range(len(countries), 0, -1))}
        ),
        "top_category_by_year": pa.table(
            {"post_year": [2018, 2019], "category": ["art", "travel"], "category_count": [41_000, 7_000]}
        ),
        "top_user_by_country": pa.table(
            {"country": ["Germany", "France"], "poster_name": ["P1", "P2"], "follower_count": [10, 20]}
        ),
    }
    out = tmp_path / "real.html"
    data = {"generated_at": "t", "prefix": "p", "charts": chart_data(tables), "status": None, "run": None}
    out.write_text(report_html(data), encoding="utf-8")
    page.page.goto(out.as_uri())
    page.page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)

    # Every distinct country has a shape, filled (MAP_NAMES places the names plotly.js does not know).
    distinct = len(set(countries))
    assert page.page.get_attribute("figure.map", "data-placed") == str(distinct)
    assert page.page.locator("figure.map path.choroplethlocation").count() == distinct
    assert page.page.is_hidden("figure.map .map-missing")
    fills = page.fills()
    assert set(fills["world_map"]["art"]) == {rgb(CATEGORY_COLORS["art"])}  # Germany, Brazil, the territory
    assert len(fills["world_map"]["art"]) == 3
    for category in ("art", "travel"):
        drawn = {f for groups in fills.values() for g in (category, f"legend:{category}") for f in groups.get(g, [])}
        assert drawn == {rgb(CATEGORY_COLORS[category])}, category
    assert fills["top_category_by_country"]["legend:travel"] and fills["top_category_by_year"]["legend:travel"]

    # Labels: wrapped, never cut; the full name in each tick's title and in the data table.
    titles = page.tick_titles("top_category_by_country")
    assert f"{LONG} · art" in titles and f"{LONG} · travel" in titles
    cells = page.page.eval_on_selector_all(
        "figure[data-chart=top_category_by_country] td.full-label", "cells => cells.map(c => c.textContent)"
    )
    assert f"{LONG} · art" in cells and f"{LONG} · travel" in cells
    assert not any("…" in t for t in titles)
    # One number format in a chart: 41,000 beside 7,000, on the bars and the axis alike.
    year = "figure[data-chart=top_category_by_year]"
    texts = page.page.eval_on_selector_all(f"{year} .bartext", "ts => ts.map(t => t.textContent)")
    assert sorted(texts) == ["41,000", "7,000"]
    ticks = page.page.eval_on_selector_all(f"{year} .xtick text", "ts => ts.map(t => t.textContent)")
    assert ticks and all(t.replace(",", "").isdigit() for t in ticks), ticks
    assert [u for u in page.requests if u != out.as_uri()] == [], "a report requests nothing"
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / "report-map.png"), full_page=True)
    assert page.problems == []
