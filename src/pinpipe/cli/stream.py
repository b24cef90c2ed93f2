"""`pinpipe stream run`: the streaming job."""

from __future__ import annotations

import typer

from pinpipe.cli._common import not_built

app = typer.Typer(help="Clean the streams continuously into Delta tables, exactly once.", no_args_is_help=True)


@app.command("run")
def run(ctx: typer.Context) -> None:
    """Consume the streams into warehouse/stream."""
    not_built("stream run", 7)
