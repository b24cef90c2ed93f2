"""`pinpipe sink run`: the lake sink connector."""

from __future__ import annotations

import typer

from pinpipe.cli._common import not_built

app = typer.Typer(help="Land the topics as raw JSON in the lake, exactly once.", no_args_is_help=True)


@app.command("run")
def run(ctx: typer.Context) -> None:
    """Drain the topics into the lake."""
    not_built("sink run", 5)
