"""The `pinpipe` command: wires verbs to the parts; each verb group lives in its own module here."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from pinpipe import __version__
from pinpipe.cli import _common
from pinpipe.cli import api as api_cli
from pinpipe.cli import batch as batch_cli
from pinpipe.cli import demo as demo_cli
from pinpipe.cli import emulate as emulate_cli
from pinpipe.cli import insights as insights_cli
from pinpipe.cli import report as report_cli
from pinpipe.cli import sink as sink_cli
from pinpipe.cli import source as source_cli
from pinpipe.cli import sql as sql_cli
from pinpipe.cli import stream as stream_cli
from pinpipe.helptext import Group
from pinpipe.process import run_cli

app = typer.Typer(
    name="pinpipe",
    help="Pinterest-style posting events to clean tables and insights: batch and streaming, embedded or at scale.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
    cls=Group,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pinpipe {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option("--home", help="PINPIPE_HOME: where the embedded defaults write.")
    ] = None,
    prefix: Annotated[str | None, typer.Option("--prefix", help="PINPIPE_PREFIX: names topics.")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="A pinpipe.toml to read (default ./pinpipe.toml).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    if config is not None:
        os.environ["PINPIPE_CONFIG"] = str(config)
    ctx.obj = _common.Globals(home=home, prefix=prefix, debug=debug)


config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective settings (defaults < pinpipe.toml < PINPIPE_* < flags), secrets masked."""
    settings = _common.settings(ctx)
    table = _common.key_value_table("pinpipe settings", settings.masked())
    _common.console().print(table)


app.add_typer(config_app, name="config", cls=Group)
app.add_typer(source_cli.app, name="source", cls=Group)
app.command("api")(api_cli.api)
app.add_typer(emulate_cli.app, name="emulate", cls=Group)
app.add_typer(sink_cli.app, name="sink", cls=Group)
app.add_typer(stream_cli.app, name="stream", cls=Group)
app.add_typer(batch_cli.app, name="batch", cls=Group)
app.add_typer(insights_cli.app, name="insights", cls=Group)
app.command("report")(report_cli.report)
app.command("sql")(sql_cli.sql)
app.command("demo")(demo_cli.demo)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI to its exit code; every entry point ends through the same runner (:mod:`pinpipe.process`)."""
    return run_cli(app, "pinpipe", argv)


def run() -> None:
    sys.exit(main())
