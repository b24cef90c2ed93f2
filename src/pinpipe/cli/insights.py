"""`pinpipe insights show|export`."""

from __future__ import annotations

import typer

from pinpipe.cli._common import not_built

app = typer.Typer(help="Look at or export the insight tables.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Print insight tables."""
    not_built("insights show", 6)


@app.command("export")
def export(ctx: typer.Context) -> None:
    """Write one file per insight."""
    not_built("insights export", 6)
