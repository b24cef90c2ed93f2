"""`pinpipe demo`: the main job, end to end on embedded defaults (the work is in :mod:`pinpipe.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pinpipe.cli._common import console, err_console, settings
from pinpipe.source.defaults import DEFAULT_ROWS, DEFAULT_SEED

DEFAULT_EVENTS = 2_000


def demo(
    ctx: typer.Context,
    events: Annotated[
        int,
        typer.Option(
            "--events",
            "-n",
            min=1,
            help="Events each emulator sends, drawn at random from the source's --rows "
            "(more than --rows is allowed, with a warning: events then repeat).",
        ),
    ] = DEFAULT_EVENTS,
    serve: Annotated[
        bool, typer.Option("--serve", help="Keep the gateway, sink, stream job and dashboard up until Ctrl-C.")
    ] = False,
    port: Annotated[
        int | None, typer.Option("--port", help="Gateway port (default PINPIPE_API_PORT, else any free one).")
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Wipe pinpipe data in PINPIPE_HOME even if an earlier demo did not write it."),
    ] = False,
    rows: Annotated[
        int | None,
        typer.Option(
            "--rows",
            min=1,
            help=f"Events generated into the source database (default {DEFAULT_ROWS:,}).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option("--seed", help="Seeds the source data and the emulators' picks (the same default in every verb)."),
    ] = DEFAULT_SEED,
    rate: Annotated[
        float, typer.Option("--rate", min=0.0, help="Events/s per emulator (0 = as fast as possible).")
    ] = 0.0,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", help="PINPIPE_HOME to run in (the same as `pinpipe --home DIR demo`).", show_default=False
        ),
    ] = None,
) -> None:
    """Run everything end to end on embedded defaults, then show the insights.

    Gateway, sink and stream job start as one process tree; both emulators post EVENTS each.
    It waits until the lake and the stream tables hold every acknowledged record, runs the batch job,
    prints the nine insights and a summary, and writes the HTML report (reports/ in PINPIPE_HOME).

    Each run starts fresh: a home an earlier demo filled is wiped by itself (only pinpipe's files);
    other pinpipe data in PINPIPE_HOME is refused unless --fresh.
    """
    from pinpipe.demo.run import Demo, DemoOptions, DemoResult
    from pinpipe.demo.show import phases_line, print_insights, summary_table

    config = settings(ctx, home=home)
    options = DemoOptions(events=events, rows=rows, seed=seed, rate=rate, port=port, serve=serve, fresh=fresh)
    out = console()

    def show(result: DemoResult) -> None:
        print_insights(out, result.insights)
        out.print(summary_table(result.summary))
        out.print(phases_line(result.summary), highlight=False, soft_wrap=True)
        out.print(f"report: {result.report}", highlight=False, soft_wrap=True)
        if not serve:
            out.print(
                f"dashboard: `pinpipe api` serves it at {result.url}/ (or run `pinpipe demo --serve`)",
                highlight=False,
                soft_wrap=True,
            )

    Demo(config, options, err_console()).run(on_ready=show)
