"""`pinpipe source …`: the source database (init, load, stats)."""

from __future__ import annotations

import typer

from pinpipe.cli._common import not_built

app = typer.Typer(help="The source database (plays the original system's RDS MySQL).", no_args_is_help=True)


@app.command("init")
def init(ctx: typer.Context) -> None:
    """Create the three tables and fill them with generated events."""
    not_built("source init", 2)
