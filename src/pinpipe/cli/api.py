"""`pinpipe api`: the ingestion gateway, served by uvicorn (uvloop + httptools)."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from enum import StrEnum
from typing import Annotated, Any

import typer

from pinpipe.cli import _common
from pinpipe.errors import ConfigError


class LogLevel(StrEnum):
    """uvicorn's log levels, so typer lists them and refuses another before anything starts."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"
    TRACE = "trace"


class PortInUseError(ConfigError):
    """The gateway's address is taken: said in one line, where uvicorn would log its own ERROR and INFO lines."""


def check_bind(host: str, port: int) -> None:
    """Bind ``host:port`` once as uvicorn will (same family, ``SO_REUSEADDR``) and let it go again.

    uvicorn reports a failed bind through its logger and exits; checked first, the failure is one
    line naming the fix. A port taken between this check and uvicorn's bind still fails, in uvicorn's words.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"port {port} is in use on {host} ({reason})",
                    hint="stop what listens there, or pass --port P or set PINPIPE_API_PORT",
                ) from None
            raise ConfigError(
                f"cannot listen on {host} port {port} ({reason})",
                hint="pass --host and --port, or set PINPIPE_API_HOST and PINPIPE_API_PORT",
            ) from None


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
    log_level: Annotated[
        LogLevel, typer.Option("--log-level", case_sensitive=False, help="uvicorn's log level.")
    ] = LogLevel.INFO,
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
    if with_stream and workers > 1:
        raise _common.UsageError("--with-stream runs one stream job: it cannot be combined with --workers > 1")
    if not is_loopback(settings.api_host) and not settings.api_keys and not insecure:
        raise ConfigError(
            f"refusing to serve on {settings.api_host!r} without API keys: anyone on the network could write",
            hint="set PINPIPE_API_KEYS, bind 127.0.0.1, or pass --insecure",
        )
    check_bind(settings.api_host, settings.api_port)
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
        "log_level": log_level.value,
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
