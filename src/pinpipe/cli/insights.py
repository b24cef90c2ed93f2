"""`pinpipe insights show|export`: the insight tables the last batch run wrote."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pinpipe.cli._common import console, err_console, settings

app = typer.Typer(help="Look at or export the insight tables.", no_args_is_help=True)


class Format(StrEnum):
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One insight (default: all nine).")] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Rows per table at most (0: all); a cut table says so.")
    ] = 50,
) -> None:
    """Print insight tables, numbers formatted as the demo prints them."""
    from pinpipe.demo.show import print_insights
    from pinpipe.insights.store import load_insights

    def more(_: str, shown: int, total: int) -> str:
        return f"showing {shown:,} of {total:,} rows; --limit N to change (0: all)"

    print_insights(console(), load_insights(settings(ctx), name), limit=limit or None, more=more)


@app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder to write <name>.<ext> into.")],
    fmt: Annotated[Format, typer.Option("--format", help="csv, json (lines) or parquet.")] = Format.CSV,
) -> None:
    """Write one file per insight, named <name>.<ext>, with exactly the insight's columns."""
    from pinpipe.insights.store import export_insights

    cfg = settings(ctx)
    for path in export_insights(cfg, out, fmt.value):
        err_console().print(f"wrote {path}")
