"""`pinpipe report`: the self-contained HTML report."""

from __future__ import annotations

import typer

from pinpipe.cli._common import not_built


def report(ctx: typer.Context) -> None:
    """Write one self-contained HTML file of the latest insights and run summary."""
    not_built("report", 9)
