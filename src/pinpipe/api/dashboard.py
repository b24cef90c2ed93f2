"""The dashboard: ``GET /`` (the page), ``/assets/*`` (its CSS and JS, served from the package, never a
CDN), ``/api/status`` and ``/api/insights`` (the JSON it polls).

The status reader lives on ``app.state`` so its Delta handles and throughput window persist between
polls; the insight charts are re-read only when a batch run changed the insight tables. Reading the
warehouse is blocking work, so it runs in the threadpool, away from the event loop that acknowledges
records. pyarrow and deltalake are imported on the first dashboard request, not at gateway start.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from pinpipe.api.deps import ApiKeyGuard, SettingsDep
from pinpipe.api.errors import ApiError

if TYPE_CHECKING:
    from pinpipe.report.status import PipelineStatus

router = APIRouter(dependencies=[ApiKeyGuard], tags=["dashboard"])

_state_lock = threading.Lock()


def _status_reader(request: Request) -> PipelineStatus:
    from pinpipe.report.status import PipelineStatus

    state = request.app.state
    with _state_lock:
        reader = getattr(state, "dashboard_status", None)
        if reader is None or reader.log is not state.log:
            reader = PipelineStatus(state.settings, state.log, state.stream_log)
            state.dashboard_status = reader
            state.dashboard_insights = None
        return reader


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(settings: SettingsDep) -> HTMLResponse:
    from pinpipe.report.page import dashboard_html

    return HTMLResponse(dashboard_html(settings), headers={"cache-control": "no-store"})


@router.get("/assets/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    from pinpipe.report.page import ASSETS, static_text

    media_type = ASSETS.get(name)
    if media_type is None:
        raise ApiError(404, f"no asset {name!r}")
    return Response(static_text(name), media_type=media_type, headers={"cache-control": "no-cache"})


@router.get("/api/status", summary="Pipeline status: records, lags, throughput, dead letters, latest batch run")
async def status(request: Request) -> dict[str, Any]:
    reader = _status_reader(request)
    return await run_in_threadpool(reader.snapshot)


def _insights(request: Request, reader: PipelineStatus) -> dict[str, Any]:
    from pinpipe.errors import PinpipeError
    from pinpipe.report.page import insight_charts, last_run

    state = request.app.state
    version = reader.insights_version()
    cached = getattr(state, "dashboard_insights", None)
    if cached is None or cached["key"] != version:
        try:
            charts = insight_charts(reader.settings)
        except PinpipeError:
            charts = []  # no batch run yet: the page says how to make one
        cached = {"key": version, "charts": charts}
        state.dashboard_insights = cached
    return {
        "version": ",".join("-" if v is None else str(v) for v in version),
        "charts": cached["charts"],
        "run": last_run(reader.settings),
    }


@router.get("/api/insights", summary="The nine insights as chart data, and the last demo run's summary")
async def insights(request: Request) -> dict[str, Any]:
    reader = _status_reader(request)
    return await run_in_threadpool(_insights, request, reader)
