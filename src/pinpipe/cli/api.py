"""`pinpipe api`: the ingestion gateway, served by uvicorn (uvloop + httptools)."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated, Any

import typer

from pinpipe.cli import _common
from pinpipe.errors import ConfigError

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def is_loopback(host: str) -> bool:
    """Only addresses that cannot be reached from another machine count (``0.0.0.0`` does not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def api(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (PINPIPE_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to bind (PINPIPE_API_PORT).")] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a non-loopback address without PINPIPE_API_KEYS.")
    ] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes (share the log).")] = 1,
    with_stream: Annotated[
        bool, typer.Option("--with-stream", help="Also run the stream job in this process; its metrics on /metrics.")
    ] = False,
    log_level: Annotated[str, typer.Option("--log-level", help=f"One of {', '.join(LOG_LEVELS)}.")] = "info",
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (off: it costs throughput).")
    ] = False,
) -> None:
    """Serve the gateway: Kafka REST v2 and Kinesis routes, /health, /metrics, /docs and the dashboard.

    SIGTERM or Ctrl-C stops it gracefully: requests in flight finish, then the log is closed; every
    acknowledged record is already durable.
    """
    import uvicorn

    settings = _common.settings(ctx, api_host=host, api_port=port)
    if log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"unknown --log-level {log_level!r}", hint=f"use one of {', '.join(LOG_LEVELS)}")
    if with_stream and workers > 1:
        raise ConfigError("--with-stream runs one stream job: it cannot be combined with --workers > 1")
    if not is_loopback(settings.api_host) and not settings.api_keys and not insecure:
        raise ConfigError(
            f"refusing to serve on {settings.api_host!r} without API keys: anyone on the network could write",
            hint="set PINPIPE_API_KEYS, bind 127.0.0.1, or pass --insecure",
        )
    shown_host = f"[{settings.api_host}]" if ":" in settings.api_host else settings.api_host
    _common.err_console().print(
        f"pinpipe api on http://{shown_host}:{settings.api_port} "
        f"(log {settings.masked()['log_url']}; docs /docs, metrics /metrics)",
        highlight=False,
        soft_wrap=True,
    )
    options: dict[str, Any] = {
        "host": settings.api_host,
        "port": settings.api_port,
        "loop": "uvloop",
        "http": "httptools",
        "log_level": log_level.lower(),
        "access_log": access_log,
        "timeout_graceful_shutdown": 30,
    }
    if workers == 1:
        from pinpipe.api.main import create_app

        uvicorn.run(create_app(settings, with_stream=with_stream, own_process=True), **options)
        return
    # Worker processes build their own app from the environment: pass on what flags decided.
    os.environ["PINPIPE_HOME"] = str(settings.home)
    os.environ["PINPIPE_PREFIX"] = settings.prefix
    uvicorn.run("pinpipe.api.main:app_from_environment", factory=True, workers=workers, **options)
