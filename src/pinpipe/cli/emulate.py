"""`pinpipe emulate batch|stream`: the posting emulators."""

from __future__ import annotations

import typer

from pinpipe.cli._common import not_built

app = typer.Typer(help="Post random events from the source DB to the gateway.", no_args_is_help=True)


@app.command("batch")
def batch(ctx: typer.Context) -> None:
    """Post events through the Kafka REST route."""
    not_built("emulate batch", 4)


@app.command("stream")
def stream(ctx: typer.Context) -> None:
    """Post events through the Kinesis route."""
    not_built("emulate stream", 4)
