"""`pinpipe insights show|export`: the insight tables the last batch run wrote."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

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
    limit: Annotated[int, typer.Option("--limit", help="Rows per table at most.")] = 50,
) -> None:
    """Print insight tables."""
    from pinpipe.insights.store import load_insights

    cfg = settings(ctx)
    for insight_name, table in load_insights(cfg, name).items():
        view = Table(title=f"{insight_name} ({table.num_rows:,} rows)", header_style="bold")
        for column in table.column_names:
            view.add_column(column)
        for row in table.slice(0, limit).to_pylist():
            view.add_row(*("" if v is None else str(v) for v in row.values()))
        console().print(view)


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
