"""`pinpipe batch run`: the daily batch job (the same entry point the Airflow DAG and Databricks call)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from pinpipe.cli._common import UsageError, console, err_console, settings
from pinpipe.errors import ConfigError, PinpipeError

app = typer.Typer(help="Clean the lake and compute the insights (DuckDB or Spark).", no_args_is_help=True)


class BatchEngine(StrEnum):
    """The batch engines by name (:data:`pinpipe.engines.ENGINES`), so typer lists and checks them."""

    DUCKDB = "duckdb"
    SPARK = "spark"


class NoDataError(PinpipeError):
    """``--require-data`` and a scope without lake files: for a scheduler, a failed run, not a quiet day."""


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--date {value!r} is not a date", hint="use YYYY-MM-DD") from None


@app.command("run")
def run(
    ctx: typer.Context,
    day: Annotated[str | None, typer.Option("--date", help="Read only this day's partitions (YYYY-MM-DD).")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Read the whole lake (both layouts).")] = False,
    engine: Annotated[BatchEngine, typer.Option("--engine", help="duckdb (embedded) or spark.")] = BatchEngine.DUCKDB,
    spark_master: Annotated[
        str | None, typer.Option("--spark-master", help="Spark master URL (default: settings, local[*]).")
    ] = None,
    require_data: Annotated[
        bool,
        typer.Option(
            "--require-data",
            help="Fail (exit 1) when the day or lake has no files, instead of a warning: for schedulers.",
        ),
    ] = False,
) -> None:
    """Run the batch job for a day or for the whole lake; reruns leave the same tables.

    A scope without lake files is a warning on stderr (a wrong lake URL looks like a quiet day);
    --require-data makes it an error.
    """
    from pinpipe.batch import run_batch
    from pinpipe.batch.job import NO_DATA_HINT

    if day is not None and everything:
        raise UsageError("give either --date or --all, not both")
    if day is None and not everything:
        raise ConfigError("say what to read", hint="--date YYYY-MM-DD for one day, --all for the whole lake")
    scope = _day(day)
    cfg = settings(ctx, spark_master=spark_master)
    err = err_console()

    def no_data(what: str) -> None:
        raise NoDataError(f"--require-data: {what}", hint=NO_DATA_HINT)

    summary = run_batch(
        cfg,
        scope,
        engine.value,
        spark_master=spark_master,
        progress=lambda m: err.print(m, soft_wrap=True),
        on_no_data=no_data if require_data else None,
    )
    table = Table(title=f"batch {summary.scope} ({summary.engine})", header_style="bold")
    for column in ("table", "records read", "clean rows merged"):
        table.add_column(column, justify="right" if column != "table" else "left")
    for kind, rows in summary.rows_written.items():
        table.add_row(kind, f"{summary.records_read.get(kind, 0):,}", f"{rows:,}")
    table.add_row("dead_letter", "", f"{summary.dead_letters:,}")
    for name, rows in summary.insight_rows.items():
        table.add_row(f"insights/{name}", "", f"{rows:,}")
    console().print(table)
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in summary.durations.items())
    err.print(f"done in {summary.durations.get('total', 0):.1f}s ({timing})")
