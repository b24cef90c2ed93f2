"""``/health`` (open, for load balancers and test fixtures) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from pinpipe import __version__
from pinpipe.api.deps import ApiKeyGuard, LogDep, MetricsDep, SettingsDep, StreamLogDep
from pinpipe.api.models import Health
from pinpipe.settings import mask_url

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(settings: SettingsDep, log: LogDep, stream_log: StreamLogDep) -> Response:
    """200 when the event log answers (the gateway can acknowledge), else 503 with the reason."""
    body = Health(
        status="ok",
        version=__version__,
        log=mask_url(settings.log_url or ""),
        stream_log=mask_url(settings.stream_log_url or ""),
    )
    status = 200
    try:
        topics = await run_in_threadpool(log.topics)
        if stream_log is not log:
            topics = {**topics, **await run_in_threadpool(stream_log.topics)}
        body.topics = len(topics)
    except Exception as exc:  # any backend failure is "unavailable", never a crash
        body.status, body.error, status = "unavailable", str(exc), 503
    return Response(orjson.dumps(body.model_dump(exclude_none=True)), status_code=status, media_type="application/json")


@router.get("/metrics", dependencies=[ApiKeyGuard], response_class=Response)
async def metrics(gateway_metrics: MetricsDep) -> Response:
    """Records accepted per topic/stream, request latency per route, errors per status."""
    return Response(gateway_metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
