"""The gateway app: ``create_app(settings)`` wires the routers, the logs, metrics and error handling.

The logs are opened at start-up (lifespan) unless given, the pinpipe topics and streams are created
when missing (by each log's :class:`~pinpipe.api.availability.LogWatch`, which never holds up listening:
a log that is down gets 503s at once), and the logs are closed at shutdown — after uvicorn has finished the requests in
flight, so every acknowledged record is already durable when the process exits.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from pinpipe import __version__
from pinpipe.api import dashboard, health
from pinpipe.api.availability import LogWatch
from pinpipe.api.backpressure import InFlightBudget
from pinpipe.api.deps import ApiKeyGuard
from pinpipe.api.errors import install_error_handlers
from pinpipe.api.kafka_rest import KafkaRestRoutes
from pinpipe.api.kinesis import KinesisRoutes
from pinpipe.api.metrics import GatewayMetrics, MetricsMiddleware
from pinpipe.log import open_log
from pinpipe.log.base import EventLog
from pinpipe.settings import TABLES, Settings, get_settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from pinpipe.stream.engine import StreamJob
    from pinpipe.stream.lock import WarehouseLock

logger = logging.getLogger("pinpipe.api")

STREAM_STOP_TIMEOUT_S = 30.0


def create_app(
    settings: Settings,
    *,
    log: EventLog | None = None,
    stream_log: EventLog | None = None,
    with_stream: bool = False,
    own_process: bool = False,
) -> FastAPI:
    """The gateway for ``settings``; logs given here are used as they are and not closed by the app.

    ``with_stream`` runs the stream job inside this process (one thread) and exposes its metrics on
    ``/metrics`` beside the gateway's: one process to deploy and to scrape on a small setup.
    ``own_process``: the gateway is this process's whole job (``pinpipe api``), so what start-up built is
    frozen out of the cyclic GC; not in tests, where one process builds many apps.

    With ``with_stream`` the warehouse's stream-job lock is taken here, before anything is served, so a
    gateway started beside a running stream job stops at once with one line; it is released at shutdown.
    """
    stream_lock = _hold_warehouse(settings) if with_stream else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned: list[EventLog] = []
        topic_log = log
        if topic_log is None:
            topic_log = await run_in_threadpool(open_log, settings.log_url or "", settings)
            owned.append(topic_log)
        streams = stream_log
        if streams is None:
            if settings.stream_log_url == settings.log_url:
                streams = topic_log
            else:
                streams = await run_in_threadpool(open_log, settings.stream_log_url or "", settings)
                owned.append(streams)
        app.state.log, app.state.stream_log = topic_log, streams
        app.state.watches = _watches(settings, topic_log, streams)
        watchers = [await watch.start() for watch in dict.fromkeys(app.state.watches.values())]
        stream_job = None
        if stream_lock is not None:
            stream_lock.acquire()  # already held unless an earlier lifespan of this app released it
            stream_job = _start_stream_job(settings, app.state.metrics.registry, stream_lock)
        if own_process:
            # What is alive now (FastAPI, pydantic, the clients) lives as long as the process: keep it out of
            # the cyclic GC. Unfrozen, each full collection re-scanned it, a 20-30 ms pause about three times a
            # second at 70 % of capacity (8.8 s in a 2-minute run) that stalled every request in flight; p99
            # went from 50-360 ms to 10-30 ms (docs/RELIABILITY.md, "Load").
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if stream_job is not None:
                await run_in_threadpool(_stop_stream_job, *stream_job)
            for watcher in watchers:
                watcher.cancel()
            for opened in reversed(owned):
                await run_in_threadpool(opened.close)

    app = FastAPI(
        title="pinpipe gateway",
        version=__version__,
        summary="Kafka REST Proxy v2 and Kinesis-through-API-Gateway routes in front of a durable event log.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.api_keys = [k.get_secret_value().encode() for k in settings.api_keys]
    app.state.metrics = metrics = GatewayMetrics()
    app.state.budget = InFlightBudget(settings.api_in_flight_bytes)
    # Set now so dependency overrides and tests see them even before start-up; replaced in lifespan.
    app.state.log = log
    app.state.stream_log = stream_log or log
    app.state.watches = {}  # LogWatch per role ("log", "stream_log"), from start-up on
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(health.router)
    app.include_router(KafkaRestRoutes().router)
    app.include_router(KinesisRoutes().router)
    app.include_router(dashboard.router)
    _add_docs(app)
    return app


DOCS_ASSETS = "/docs-assets"


def _add_docs(app: FastAPI) -> None:
    """/docs and /openapi.json behind the API key like every route but /health.

    Swagger UI's script and style are served from this process (the copies fastapi-offline ships),
    not from a CDN: pinpipe's machines and many users' clusters have no internet.
    """
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/openapi.json", include_in_schema=False, dependencies=[ApiKeyGuard])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[ApiKeyGuard])
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="pinpipe gateway",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )


def _watches(settings: Settings, log: EventLog, stream_log: EventLog) -> dict[str, LogWatch]:
    """One watch per log object (``log`` and ``stream_log`` may be one), knowing the names it creates."""
    topics = [settings.topic(t) for t in TABLES]
    streams = [settings.stream(t) for t in TABLES]
    if stream_log is log:
        watch = LogWatch(log, topics + streams, settings.partitions)
        return {"log": watch, "stream_log": watch}
    return {
        "log": LogWatch(log, topics, settings.partitions),
        "stream_log": LogWatch(stream_log, streams, settings.partitions),
    }


def _hold_warehouse(settings: Settings) -> WarehouseLock:
    """The lock every stream job holds on its warehouse (:mod:`pinpipe.stream.lock`), taken now."""
    from pinpipe.stream.lock import WarehouseLock

    return WarehouseLock(settings).acquire()


def _start_stream_job(
    settings: Settings, registry: CollectorRegistry, lock: WarehouseLock
) -> tuple[StreamJob, threading.Thread]:
    from pinpipe.stream.engine import StreamJob, StreamOptions
    from pinpipe.stream.metrics import register_metrics

    metrics = register_metrics(registry)
    job = StreamJob(settings, StreamOptions(status=False), metrics=metrics, lock=lock)
    thread = threading.Thread(target=job.run, name="pinpipe-stream", daemon=True)
    thread.start()
    return job, thread


def _stop_stream_job(job: StreamJob, thread: threading.Thread) -> None:
    """Graceful: the batch in hand is committed before the gateway closes its logs."""
    job.stop()
    thread.join(timeout=STREAM_STOP_TIMEOUT_S)
    if thread.is_alive():
        # Still holding the warehouse: the lock goes with the process, never while the job may commit.
        logger.error("stream job did not stop within %ss; its uncommitted batch will be re-read", STREAM_STOP_TIMEOUT_S)
        return
    job.lock.release()


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` workers (``pinpipe api --workers N``): settings from the environment."""
    return create_app(get_settings(), own_process=True)
