"""Prometheus metrics of one gateway app: records accepted, request latency, errors by status.

Each app gets its own registry, so several apps in one process (tests) never collide, and the
latency middleware is plain ASGI (no ``BaseHTTPMiddleware``), which costs microseconds per request.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.records_accepted = Counter(
            "pinpipe_gateway_records_accepted",
            "Records acknowledged (durable in the log), per route kind and topic/stream.",
            ["kind", "name"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "pinpipe_gateway_request_duration_seconds",
            "Time from request start to response end, per method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "pinpipe_gateway_errors",
            "Error answers (status >= 400) per HTTP status.",
            ["status"],
            registry=self.registry,
        )

    def accepted(self, kind: str, name: str, count: int) -> None:
        self.records_accepted.labels(kind, name).inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request and counts error answers; route labels are templates, not raw paths."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.request_latency.labels(scope["method"], route).observe(time.perf_counter() - start)
            if status >= 400:
                self.metrics.errors.labels(str(status)).inc()
