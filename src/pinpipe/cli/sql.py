"""`pinpipe sql`: SQL by table name over the warehouse (the work is in :mod:`pinpipe.sql`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, TextIO

import typer

from pinpipe.cli._common import console, err_console, settings
from pinpipe.settings import mask_url


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def sql(
    ctx: typer.Context,
    query: Annotated[
        str | None,
        typer.Argument(
            metavar="QUERY", help="SQL to run (several statements: the last one's rows). Without: a prompt."
        ),
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="table (for people), csv, or json (one object per line).")
    ] = Format.TABLE,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows a table shows at most (csv, json: all).")] = 50,
) -> None:
    """SQL over the warehouse's Delta tables by name, on DuckDB, at their current versions.

    Tables: batch_pin, batch_geo, batch_user, stream_pin, stream_geo, stream_user, dead_letter and
    each insight by its name (`.tables` lists those written so far). Without QUERY, a prompt reads
    statements ended by ';' from stdin; `.tables`, `.help`, `.quit`.
    """
    from pinpipe.sql import SqlShell, WarehouseSession, write_result

    config = settings(ctx)

    def say(line: str) -> None:
        err_console().print(line, highlight=False, markup=False, soft_wrap=True)

    with WarehouseSession(config) as session:
        shell = SqlShell(
            session,
            lambda result: write_result(result, fmt.value, console=console(), out=sys.stdout, limit=limit),
            say,
        )
        try:
            if query is not None:
                shell.command(query)
                return
            if sys.stdin.isatty():
                say(f"pinpipe sql: {len(session.names)} tables of {mask_url(config.warehouse_url or '')}; .help, .quit")
            failures = shell.prompt(_line_reader(sys.stdin))
        except BrokenPipeError:  # `| head` has read what it wanted: stop quietly, like any filter
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
    if failures and not sys.stdin.isatty():  # a script fed on stdin whose statements failed fails
        raise typer.Exit(1)


def _line_reader(stdin: TextIO) -> Callable[[str], str]:
    """``input`` (line editing, the prompt shown) on a terminal; plain lines, no prompt, otherwise."""
    if stdin.isatty():
        import readline  # noqa: F401  (gives input() editing and history)

        return input

    def read(prompt: str) -> str:
        line = stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")

    return read
