"""`pinpipe batch run`: the daily batch job."""

from __future__ import annotations

import typer

from pinpipe.cli._common import not_built

app = typer.Typer(help="Clean the lake and compute the insights (DuckDB or Spark).", no_args_is_help=True)


@app.command("run")
def run(ctx: typer.Context) -> None:
    """Run the batch job for a day or for the whole lake."""
    not_built("batch run", 6)
