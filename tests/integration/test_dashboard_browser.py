"""The dashboard and the report in a real Chromium (playwright, the system's /usr/bin/chromium).

Known dataset: the thirteen hand-checked events of tests/insights/test_hand_checked.py, run through
the batch job, so each chart's number of bars is known from the hand-worked tables. A real
``pinpipe api`` serves the dashboard; records posted to it during the test must move its counters
(waited for by polling the DOM, bounded). Screenshots land in test-artifacts/ (gitignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pinpipe.cli import main
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
        counts: dict[str, int] = {}
        for chart in self.page.locator("figure.chart").all():
            counts[chart.get_attribute("data-chart") or ""] = chart.locator("rect.bar").count()
        return counts

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
