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
from pinpipe.report.charts import AGE_GROUPS, CHART_SPECS, TOP_BARS, chart_bars
from pinpipe.report.status import log_positions
from pinpipe.reports import LAST_RUN_FILE, report_file, write_json
from pinpipe.settings import get_settings
from tests.report.dataset import DEAD_LETTERS, expected_bars, hand_checked_warehouse


class Links(HTMLParser):
    """Every src/href in the page, the tags seen and the embedded data block."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.data_blocks: list[str] = []
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        for name in ("src", "href"):
            if found.get(name) is not None:
                self.urls.append((tag, name, found[name] or ""))
        self._in_data = tag == "script" and found.get("id") == "pinpipe-data"

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data_blocks.append(data)


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
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "@import" not in html and "url(" not in html
    assert links.tags.count("style") == 1 and "script" in links.tags

    charts = data["charts"]
    assert [c["name"] for c in charts] == list(INSIGHTS)
    assert {c["name"]: c["rows"] for c in charts} == expected_bars()
    assert {c["name"]: len(c["bars"]) for c in charts} == expected_bars()
    by_name = {c["name"]: c for c in charts}
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
