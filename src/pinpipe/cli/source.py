"""`pinpipe source …`: the source database (init, load, stats).

``--db`` overrides ``PINPIPE_SOURCE_URL``; the default is ``sqlite:///$PINPIPE_HOME/source.db``.
Progress and status lines go to stderr, tables to stdout.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from pinpipe.cli._common import console, err_console, settings
from pinpipe.errors import ValidationError
from pinpipe.source.defaults import DEFAULT_ROWS, DEFAULT_SEED

if TYPE_CHECKING:
    from pinpipe.source.stats import SourceStats

app = typer.Typer(help="The source database (plays the original system's RDS MySQL).", no_args_is_help=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Source database SQLAlchemy URL (overrides PINPIPE_SOURCE_URL).", show_default=False),
]


@app.command("init")
def init(
    ctx: typer.Context,
    rows: Annotated[int, typer.Option("--rows", help="Events to generate.")] = DEFAULT_ROWS,
    seed: Annotated[
        int, typer.Option("--seed", help="Same seed, same rows (the same default in every verb).")
    ] = DEFAULT_SEED,
    db: DbOption = None,
    replace: Annotated[bool, typer.Option("--replace", help="Drop the tables' rows first.")] = False,
) -> None:
    """Create the three tables and fill them with generated events shaped like the real data."""
    if rows < 0:
        raise ValidationError(f"--rows must be >= 0, got {rows}")
    from pinpipe.source import open_engine, populate
    from pinpipe.source.db import describe
    from pinpipe.source.fill import ensure_empty

    engine = open_engine(settings(ctx, source_url=db).source_url or "")
    if not replace:
        ensure_empty(engine)  # before the progress bar, so a refusal is one clean line
    started = time.monotonic()
    columns = (
        TextColumn("generating events"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(
            *columns, console=err_console(), transient=True, disable=not err_console().is_terminal
        ) as progress:
            task = progress.add_task("events", total=rows)
            written = populate(engine, rows, seed, replace=replace, on_progress=lambda n: progress.advance(task, n))
    finally:
        engine.dispose()
    err_console().print(
        f"wrote {written:,} events (pin, geo and user rows) to {describe(engine)} "
        f"in {time.monotonic() - started:.1f} s (seed {seed})",
        soft_wrap=True,
    )


@app.command("load")
def load_files(
    ctx: typer.Context,
    pin: Annotated[Path, typer.Option("--pin", help="JSON lines of pinterest_data rows.", dir_okay=False)],
    geo: Annotated[Path, typer.Option("--geo", help="JSON lines of geolocation_data rows.", dir_okay=False)],
    user: Annotated[Path, typer.Option("--user", help="JSON lines of user_data rows.", dir_okay=False)],
    db: DbOption = None,
) -> None:
    """Load your own rows (keys = column names); every row is checked, and a bad line loads nothing.

    Geo and user rows whose ind has no pin are skipped (no event could carry them) and reported.
    """
    from pinpipe.source import load, open_engine
    from pinpipe.source.db import describe

    engine = open_engine(settings(ctx, source_url=db).source_url or "")
    try:
        result = load(engine, pin, geo, user)
    finally:
        engine.dispose()
    err_console().print(result.summary(describe(engine)), soft_wrap=True, markup=False)


@app.command("stats")
def stats(ctx: typer.Context, db: DbOption = None) -> None:
    """Row counts and the rate of each placeholder class, so you see the dirt before cleaning."""
    from pinpipe.source import collect, open_engine
    from pinpipe.source.db import describe

    engine = open_engine(settings(ctx, source_url=db).source_url or "", readonly=True)
    try:
        figures = collect(engine)
    finally:
        engine.dispose()
    out = console()
    out.print(_counts_table(figures, describe(engine)))
    if not figures.pins:
        return
    out.print(_placeholder_table(figures))
    out.print(_share_table("is_image_or_video", figures.media, figures))
    patterns = dict(sorted(figures.follower_patterns.items(), key=lambda kv: -kv[1]))
    followers = _share_table("follower_count pattern", patterns, figures)
    if figures.max_followers is not None:
        followers.caption = f"max follower count {figures.max_followers:,}"
    out.print(followers)
    categories = _share_table("category", figures.categories, figures)
    categories.caption = f"{len(figures.categories)} categories"
    out.print(categories)


def _counts_table(figures: SourceStats, where: str) -> Table:
    table = Table(title=f"source database {where}", header_style="bold")
    table.add_column("table")
    table.add_column("rows", justify="right")
    names = {"pin": "pinterest_data", "geo": "geolocation_data", "user": "user_data"}
    for kind, count in figures.counts.items():
        table.add_row(names[kind], "(missing)" if count is None else f"{count:,}")
    if figures.pins:
        table.add_row("pins without geo row", f"{figures.pins_without_geo:,}")
        table.add_row("pins without user row", f"{figures.pins_without_user:,}")
        table.add_row("distinct countries", f"{figures.countries:,}")
        table.add_row("distinct persons (name + date_joined)", f"{figures.persons:,}")
    return table


def _placeholder_table(figures: SourceStats) -> Table:
    table = Table(title="placeholders (cleaning turns them into NULL)", header_style="bold")
    table.add_column("column")
    table.add_column("placeholder")
    table.add_column("rows", justify="right")
    table.add_column("rate", justify="right")
    for column, value, count in figures.placeholders:
        table.add_row(column, repr(value), f"{count:,}", f"{figures.rate(count):.2%}")
    return table


def _share_table(title: str, counts: dict[str, int], figures: SourceStats) -> Table:
    table = Table(title=title, header_style="bold")
    table.add_column("value")
    table.add_column("rows", justify="right")
    table.add_column("rate", justify="right")
    for value, count in counts.items():
        table.add_row(value, f"{count:,}", f"{figures.rate(count):.2%}")
    return table
