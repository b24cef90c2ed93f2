"""The one page template, filled two ways: the live dashboard (assets served by the gateway, data
polled) and the self-contained report (the same CSS and JS inlined, the data embedded as JSON).

Both draw with ``static/charts.js`` from the data :func:`pinpipe.report.charts.chart_data` builds, so
the dashboard and the report cannot drift apart. Nothing is ever loaded from another host.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from pinpipe import __version__
from pinpipe.errors import PinpipeError
from pinpipe.report.charts import chart_data
from pinpipe.report.status import PipelineStatus
from pinpipe.reports import LAST_RUN_FILE, read_json, report_file
from pinpipe.settings import Settings

#: Files the gateway serves under ``/assets/`` (an allow-list: nothing else in the package is exposed).
ASSETS: dict[str, str] = {
    "pinpipe.css": "text/css; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}


@cache
def static_text(name: str) -> str:
    """A file of ``pinpipe/report/static`` (package data, shipped in the wheel)."""
    return (resources.files("pinpipe.report") / "static" / name).read_text(encoding="utf-8")


def _page(*, title: str, heading: str, subtitle: str, mode: str, styles: str, scripts: str, data: str = "") -> str:
    return Template(static_text("page.html")).substitute(
        title=escape(title),
        heading=escape(heading),
        subtitle=escape(subtitle),
        mode=mode,
        styles=styles,
        scripts=scripts,
        data=data,
    )


def dashboard_html(settings: Settings) -> str:
    """The dashboard page; its script polls ``api/status`` and ``api/insights`` (relative URLs)."""
    return _page(
        title="pinpipe dashboard",
        heading="live dashboard",
        subtitle=f"prefix {settings.prefix} · pinpipe {__version__} · refreshes every 1.5 s",
        mode="dashboard",
        styles='<link rel="stylesheet" href="assets/pinpipe.css">',
        scripts='<script src="assets/charts.js"></script>\n<script src="assets/dashboard.js"></script>',
    )


def _inline_json(data: Any) -> str:
    """JSON safe inside a <script> element: no ``</script>`` or ``<!--`` can appear in it."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def report_html(data: dict[str, Any]) -> str:
    """One self-contained page: CSS and JS inlined, ``data`` (see :func:`report_data`) embedded."""
    return _page(
        title=f"pinpipe report {data.get('generated_at', '')}",
        heading="report",
        subtitle=f"generated {data.get('generated_at', '')} · prefix {data.get('prefix', '')} · pinpipe {__version__}",
        mode="report",
        styles=f"<style>\n{static_text('pinpipe.css')}</style>",
        scripts=f"<script>\n{static_text('charts.js')}</script>\n<script>\n{static_text('report.js')}</script>",
        data=f'<script type="application/json" id="pinpipe-data">{_inline_json(data)}</script>',
    )


def insight_charts(settings: Settings) -> list[dict[str, Any]]:
    """The nine charts from the warehouse's insight tables (an error with a hint when there are none)."""
    from pinpipe.insights.store import load_insights

    return chart_data(load_insights(settings))


def last_run(settings: Settings) -> dict[str, Any] | None:
    """The run summary the demo wrote, if any."""
    return read_json(report_file(settings, LAST_RUN_FILE))


def report_data(settings: Settings, status: PipelineStatus | None = None) -> dict[str, Any]:
    """What the report embeds: the charts, a status snapshot and the last run summary.

    A snapshot's records/s is a live rate (zero once the pipeline is idle); in a report the run's
    ingest rate says more, so it takes its place when there is a run summary.
    """
    run = last_run(settings)
    snapshot = status.snapshot() if status is not None else None
    if snapshot is not None:
        rate = ((run or {}).get("throughput") or {}).get("ingest_records_per_s")
        snapshot["records_per_s"] = rate
        snapshot["rate_note"] = "ingest rate of the last demo run" if rate is not None else "no run summary"
    return {
        "generated_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "prefix": settings.prefix,
        "charts": insight_charts(settings),
        "status": snapshot,
        "run": run,
    }


def default_report_path(settings: Settings, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(tz=UTC)).strftime("%Y%m%dT%H%M%SZ")
    return settings.reports_dir / f"pinpipe-report-{stamp}.html"


def write_report(settings: Settings, out: Path | None = None, status: PipelineStatus | None = None) -> Path:
    """Write the report (default ``$PINPIPE_HOME/reports/pinpipe-report-<UTC time>.html``); returns its path."""
    path = out or default_report_path(settings)
    if path.is_dir():
        raise PinpipeError(f"--out {str(path)!r} is a folder", hint="give a file name ending in .html")
    html = report_html(report_data(settings, status))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
