"""`pinpipe api`: the ingestion gateway."""

from __future__ import annotations

import typer

from pinpipe.cli._common import not_built


def api(ctx: typer.Context) -> None:
    """Serve the gateway: Kafka REST v2 and Kinesis routes, /metrics, /docs and the dashboard."""
    not_built("api", 3)
