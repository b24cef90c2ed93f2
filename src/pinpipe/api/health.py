"""``/health`` (open, for load balancers and test fixtures) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from pinpipe import __version__
from pinpipe.api.availability import LogWatch
from pinpipe.api.deps import ApiKeyGuard, MetricsDep, SettingsDep
from pinpipe.api.models import Health
from pinpipe.errors import BackendUnavailableError
from pinpipe.settings import mask_url

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(request: Request, settings: SettingsDep) -> Response:
    """200 when the event logs answer (the gateway can acknowledge), else 503 with the reason.

    A log whose watch found it down is reported at once (the gateway itself is up, and says so
    quickly); one believed up is asked now, and a failure makes its watch probe it."""
    body = Health(
        status="ok",
        version=__version__,
        log=mask_url(settings.log_url or ""),
        stream_log=mask_url(settings.stream_log_url or ""),
    )
    status = 200
    watches: dict[str, LogWatch] = request.app.state.watches
    try:
        known = [w.error for w in dict.fromkeys(watches.values()) if w.error is not None]
        if known:
            raise BackendUnavailableError(known[0])
        log, stream_log = request.app.state.log, request.app.state.stream_log
        topics = await run_in_threadpool(log.topics)
        if stream_log is not log:
            topics = {**topics, **await run_in_threadpool(stream_log.topics)}
        body.topics = len(topics)
    except Exception as exc:  # any backend failure is "unavailable", never a crash
        for watch in watches.values():
            watch.suspect()
        body.status, body.error, status = "unavailable", str(exc), 503
    return Response(orjson.dumps(body.model_dump(exclude_none=True)), status_code=status, media_type="application/json")


@router.get("/metrics", dependencies=[ApiKeyGuard], response_class=Response)
async def metrics(gateway_metrics: MetricsDep) -> Response:
    """Records accepted per topic/stream, request latency per route, errors per status."""
    return Response(gateway_metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
