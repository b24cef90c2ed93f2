"""Request dependencies as ``Annotated`` aliases, so tests swap any of them with ``dependency_overrides``.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the threadpool, which
cost a thread hop per dependency per request (a third of the single-record request rate).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from pinpipe.api.errors import FORBIDDEN, UNAUTHENTICATED, ApiError
from pinpipe.api.metrics import GatewayMetrics
from pinpipe.log.base import EventLog
from pinpipe.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def _available(request: Request, role: str) -> EventLog:
    """The log of ``role``, or its watch's 503 at once when its last probe found it down."""
    watch = request.app.state.watches.get(role)
    refusal = None if watch is None else watch.refusal()
    if refusal is not None:
        raise refusal
    log: EventLog = getattr(request.app.state, role)
    return log


async def get_log(request: Request) -> EventLog:
    """The log carrying the topics (Kafka REST route)."""
    return _available(request, "log")


async def get_stream_log(request: Request) -> EventLog:
    """The log carrying the streams (Kinesis route); the same object when the URLs are equal."""
    return _available(request, "stream_log")


async def get_metrics(request: Request) -> GatewayMetrics:
    return request.app.state.metrics


async def require_api_key(request: Request) -> None:
    """With ``PINPIPE_API_KEYS`` set: header ``x-api-key`` must match one (401 missing, 403 wrong).

    Every key is compared, in constant time, so the answer time does not tell which bytes matched.
    """
    keys: list[bytes] = request.app.state.api_keys
    if not keys:
        return
    given = request.headers.get("x-api-key")
    if not given:
        raise ApiError(401, "missing API key: send header x-api-key", error_code=UNAUTHENTICATED)
    candidate = given.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate, key)
    if not matched:
        raise ApiError(403, "invalid API key", error_code=FORBIDDEN)


SettingsDep = Annotated[Settings, Depends(get_settings)]
LogDep = Annotated[EventLog, Depends(get_log)]
StreamLogDep = Annotated[EventLog, Depends(get_stream_log)]
MetricsDep = Annotated[GatewayMetrics, Depends(get_metrics)]
ApiKeyGuard = Depends(require_api_key)
