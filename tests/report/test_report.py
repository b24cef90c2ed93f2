"""`pinpipe report`: one self-contained HTML file of the hand-checked dataset's nine insights.

The dataset is the batch tests' thirteen hand-checked events (tests/insights/test_hand_checked.py):
its insight tables are known row by row, so the number of bars each chart must have is known without
asking the chart code. The browser renders the same file in tests/integration/test_dashboard_browser.py.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pinpipe.cli import main
from pinpipe.insights import INSIGHTS
from pinpipe.log import OutRecord, TopicPartition, capabilities_of
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.report.charts import (
    AGE_GROUP_COLORS,
    AGE_GROUPS,
    CATEGORY_COLORS,
    CHART_SPECS,
    LABEL_WIDTH,
    NEUTRAL,
    TOP_BARS,
    chart_bars,
    chart_data,
    color_of,
    wrap_label,
)
from pinpipe.report.page import LIBRARY_SCRIPTS
from pinpipe.report.status import log_positions
from pinpipe.reports import LAST_RUN_FILE, report_file, write_json
from pinpipe.settings import get_settings
from pinpipe.source.generator import CATEGORIES
from tests.report.dataset import DEAD_LETTERS, expected_bars, hand_checked_warehouse


class Links(HTMLParser):
    """Every src/href in the page, the tags seen, the embedded data block, the inline scripts and
    styles, and the markup outside them."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.data_blocks: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.markup: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        self.markup.append(self.get_starttag_text() or "")
        for name in ("src", "href"):
            if found.get(name) is not None:
                self.urls.append((tag, name, found[name] or ""))
        if tag == "script":
            self._in = "data" if found.get("id") == "pinpipe-data" else "script"
        elif tag == "style":
            self._in = "style"

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        {"data": self.data_blocks, "script": self.scripts, "style": self.styles}.get(
            self._in or "", self.markup
        ).append(data)


@pytest.fixture
def warehouse(home: Path) -> Path:
    hand_checked_warehouse()
    return home


def parse(path: Path) -> tuple[Links, dict[str, Any]]:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    assert len(links.data_blocks) == 1, "one embedded data block"
    return links, json.loads("".join(links.data_blocks))


def test_report_is_self_contained_with_the_nine_charts(warehouse: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out" / "report.html"
    assert main(["report", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {out}"
    links, data = parse(out)

    # Nothing is loaded from anywhere: no src/href but inline data, no external script or stylesheet.
    assert all(url.startswith("data:") for _, _, url in links.urls), links.urls
    markup = "".join(links.markup)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup, re.I)
    assert links.tags.count("style") == 1 and "@import" not in links.styles[0] and "url(" not in links.styles[0]
    # The scripts are exactly pinpipe's and the library's, inlined (plotly.js byte for byte from its
    # wheel, whose URL strings — its logo link, its CDN default — are configuration it never uses here:
    # the browser test checks that the page requests nothing).
    assert [s.strip() for s in links.scripts] == [_inlined(name) for name in (*LIBRARY_SCRIPTS, "report.js")]
    assert _inlined("plotly.min.js").startswith("/**\n* plotly.js v")
    assert "window.PlotlyGeoAssets.topojson.world_50m = {" in _inlined("world-50m.js")

    charts = data["charts"]
    bar_charts = [c for c in charts if c["kind"] == "bar"]
    assert [c["kind"] for c in charts] == ["map"] + ["bar"] * len(INSIGHTS)
    assert [c["name"] for c in bar_charts] == list(INSIGHTS)
    assert {c["name"]: c["rows"] for c in bar_charts} == expected_bars()
    assert {c["name"]: len(c["bars"]) for c in bar_charts} == expected_bars()
    by_name = {c["name"]: c for c in charts}
    # The map: a country per row of top_category_by_country (A ties art and travel: art, the first, fills it).
    regions = {r["country"]: r for r in by_name["world_map"]["regions"]}
    assert {c: r["group"] for c, r in regions.items()} == {"A": "art", "B": "beauty", "C": "art"}
    assert all(r["color"] == CATEGORY_COLORS[r["group"]] for r in regions.values())
    assert "art, travel (2 posts)" in regions["A"]["hover"] and "P1, P3 (10,000 followers)" in regions["A"]["hover"]
    assert [(b["label"], b["value"]) for b in by_name["top_country_by_followers"]["bars"]] == [
        ("B", 1_000_000.0),
        ("C", 1_000_000.0),
    ]
    # Age groups in reading order, not string order (+50 last).
    assert [b["label"] for b in by_name["median_followers_by_age_group"]["bars"]] == list(AGE_GROUPS)
    assert [b["value"] for b in by_name["median_followers_by_age_group"]["bars"]] == [
        10_000.0,
        3_750.0,
        1_000_000.0,
        500_150.0,
    ]
    status = data["status"]
    assert status["dead_letters"] == DEAD_LETTERS
    assert status["batch"]["scope"] == "all"
    assert status["batch"]["rows"] == {"pin": 13, "geo": 12, "user": 12}
    assert data["run"] is None  # no demo ran in this home


def _inlined(name: str) -> str:
    from pinpipe.report.page import static_text

    return re.sub(r"</(script)", r"<\\/\1", static_text(name), flags=re.I).strip()


def test_report_default_path_and_the_run_summary(warehouse: Path, capsys) -> None:
    settings = get_settings()
    summary = {"finished_at": "2026-01-01T00:00:00+00:00", "seconds": 12.5, "dead_letters": 2, "emulators": []}
    write_json(report_file(settings, LAST_RUN_FILE), summary)
    assert main(["report"]) == 0
    printed = capsys.readouterr().out.strip()
    path = Path(printed.removeprefix("report: "))
    assert path.parent == settings.reports_dir and re.fullmatch(r"pinpipe-report-\d{8}T\d{6}Z\.html", path.name)
    _, data = parse(path)
    assert data["run"] == summary


def test_report_before_any_batch_run_says_what_to_do(home: Path, capsys) -> None:
    assert main(["report"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no insight table" in err and "pinpipe batch run" in err


def test_embedded_data_cannot_close_its_script_element(warehouse: Path, tmp_path: Path) -> None:
    from pinpipe.report.page import report_html

    hostile = {"generated_at": "x", "charts": [], "status": None, "run": {"note": "</script><script>alert(1)</script>"}}
    html = report_html(hostile)
    assert "</script><script>alert" not in html
    data = html.split('id="pinpipe-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["run"]["note"] == hostile["run"]["note"]


def test_top_charts_rank_by_value_and_keep_the_first_bars() -> None:
    spec = CHART_SPECS["top_user_by_country"]
    n = TOP_BARS + 5
    table = pa.table(
        {
            "country": [f"C{i:02d}" for i in range(n)],
            "poster_name": [f"P{i}" for i in range(n)],
            "follower_count": pa.array([i * 10 for i in range(n)], pa.int64()),
        }
    )
    bars = chart_bars(spec, table)
    assert len(bars) == TOP_BARS
    assert [b["value"] for b in bars] == [float(i * 10) for i in range(n - 1, n - 1 - TOP_BARS, -1)]
    assert bars[0]["label"] == f"C{n - 1:02d} · P{n - 1}"


def test_one_colour_per_category_and_age_group_in_every_chart_and_legend(warehouse: Path) -> None:
    from pinpipe.insights.store import load_insights

    assert set(CATEGORY_COLORS) == set(CATEGORIES), "every category the generator makes has its fixed colour"
    assert set(AGE_GROUP_COLORS) == set(AGE_GROUPS)
    palette = [*CATEGORY_COLORS.values(), *AGE_GROUP_COLORS.values(), NEUTRAL]
    assert len(set(palette)) == len(palette), "no two keys share a colour"
    assert color_of("category", "not-a-category") == color_of("category", "not-a-category") not in palette

    seen: dict[tuple[str, str], set[str]] = {}
    for chart in chart_data(load_insights(get_settings())):
        spec = CHART_SPECS.get(chart["name"])
        items = chart.get("bars") or chart.get("regions") or []
        for item in items:
            if chart["color_by"] is None:
                assert item["color"] == NEUTRAL and item["group"] is None, chart["name"]
            else:
                seen.setdefault((chart["color_by"], item["group"]), set()).add(item["color"])
        # A legend lists exactly the groups drawn, in their colours; none where colour repeats the label.
        groups = {item["group"] for item in items if item["group"] is not None}
        assert {e["group"]: e["color"] for e in chart["legend"]} == (
            {g: color_of(chart["color_by"], g) for g in groups} if spec is None or spec.legend else {}
        ), chart["name"]
    assert all(len(colours) == 1 for colours in seen.values()), seen
    assert seen[("category", "art")] == {CATEGORY_COLORS["art"]}  # in two bar charts and the map


def test_one_number_format_per_chart(warehouse: Path) -> None:
    from pinpipe.insights.store import load_insights

    charts = {c["name"]: c for c in chart_data(load_insights(get_settings()))}
    joined = charts["median_followers_by_join_year"]
    # The complaint: "41k" beside "7,000" in one chart. Now every value of a chart is written one way.
    assert joined["number_format"] == ",.0f"
    assert [b["display"] for b in joined["bars"]] == [
        "505,000",
        "2,000",
        "1,000,000",
        "3,000,000",
        "7,000",
        "1,000,000",
    ]
    for chart in charts.values():
        for bar in chart.get("bars", []):
            assert re.fullmatch(
                r"\d{1,3}(,\d{3})*" + (r"\.\d" if chart["number_format"] == ",.1f" else ""), bar["display"]
            )
    fractional = chart_bars(
        CHART_SPECS["median_followers_by_age_group"],
        pa.table({"age_group": ["18-24", "25-35"], "median_follower_count": [2.5, 1000.0]}),
    )
    assert [b["display"] for b in fractional] == ["2.5", "1,000.0"]


def test_long_labels_wrap_and_stay_apart() -> None:
    long = "British Indian Ocean Territory (Chagos Archipelago)"
    table = pa.table({"country": [long, long], "category": ["art", "travel"], "category_count": [5, 4]})
    bars = chart_bars(CHART_SPECS["top_category_by_country"], table)
    assert [b["label"] for b in bars] == [f"{long} · art", f"{long} · travel"]
    for bar in bars:
        assert len(bar["lines"]) > 1 and all(len(line) <= LABEL_WIDTH for line in bar["lines"])
        assert " ".join(bar["lines"]) == bar["label"]  # nothing cut off
    assert bars[0]["lines"] != bars[1]["lines"]
    assert wrap_label("short") == ["short"] and wrap_label("") == [""]


def test_every_insight_has_one_chart_whose_columns_exist() -> None:
    assert set(CHART_SPECS) == set(INSIGHTS)
    for name, spec in CHART_SPECS.items():
        columns = INSIGHTS[name].columns
        assert set(spec.label) <= set(columns) and spec.value in columns, name
        assert spec.color is None or spec.color in columns, name


def test_status_counts_records_and_lag_where_offsets_count_records(tmp_path: Path) -> None:
    """Dense offsets with readable group positions (the embedded log): records and lag per topic."""
    with EmbeddedLog(f"sqlite:///{tmp_path / 'log.db'}") as log:
        log.create_topic("t", 2)
        log.append("t", [OutRecord(b"x", partition=p) for p in (0, 0, 0, 1)])
        with log.consumer("g", ["t"]) as consumer:
            consumer.commit({TopicPartition("t", 0): 2})
        assert log_positions(log, ["t"], "g") == [{"name": "t", "records": 4, "lag": 2, "counted": "appended"}]
        assert log_positions(log, ["t"], "never-committed") == [
            {"name": "t", "records": 4, "lag": 4, "counted": "appended"}
        ]


class SequenceNumbered:
    """A log whose positions are sequence numbers (as Kinesis'): end offsets that are not counts, but
    commits that count the records they covered."""

    url = "test:"
    capabilities = capabilities_of("kinesis://us-east-1")

    def end_offsets(self, topic: str) -> dict[int, int]:
        return {0: 49590338271490256608559692538361571095921575989136588898}

    def committed_records(self, group: str) -> dict[TopicPartition, int]:
        return {TopicPartition("s", 0): 7, TopicPartition("s", 1): 5, TopicPartition("other", 0): 100}


def test_status_counts_what_was_committed_where_offsets_are_sequence_numbers() -> None:
    """Records are what the group's commits covered; the lag is what the running job published."""
    log: Any = SequenceNumbered()  # a stand-in for the one method the status page calls
    assert log_positions(log, ["s"], "g") == [{"name": "s", "records": 12, "lag": None, "counted": "committed"}]
    assert log_positions(log, ["s"], "g", published_lag={"s": 0}) == [
        {"name": "s", "records": 12, "lag": 0, "counted": "committed"}
    ]
