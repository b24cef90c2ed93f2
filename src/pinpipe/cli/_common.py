"""What every verb module shares: globals from the root callback, settings, console, tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from pinpipe.errors import PinpipeError
from pinpipe.settings import Settings, get_settings


class UsageError(PinpipeError):
    """Options that contradict each other: one line and exit 2, the status of the usage errors typer finds."""

    exit_code = 2


@dataclass(frozen=True)
class Globals:
    home: Path | None = None
    prefix: str | None = None
    debug: bool = False


def settings(ctx: typer.Context, *, home: Path | None = None, **overrides: Any) -> Settings:
    """Settings for this command: the root's --home/--prefix and the command's own flags win.

    ``home`` is a command's own ``--home`` (``pinpipe demo --home DIR``, the form its messages
    suggest): it means the same as ``pinpipe --home DIR demo``, so two different ones are refused.
    """
    root = ctx.find_root().obj or Globals()
    if home is not None and root.home is not None and home.resolve() != root.home.resolve():
        raise UsageError(f"--home is given twice ({str(root.home)!r} and {str(home)!r})", hint="give one")
    return get_settings(home=home or root.home, prefix=root.prefix, **overrides)


_console: Console | None = None
_err_console: Console | None = None


def console() -> Console:
    global _console
    if _console is None:
        _console = Console()
    return _console


def err_console() -> Console:
    """Progress and status go to stderr so stdout stays clean for data."""
    global _err_console
    if _err_console is None:
        _err_console = Console(stderr=True)
    return _err_console


def key_value_table(title: str, rows: Mapping[str, Any]) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("setting")
    table.add_column("value", overflow="fold")
    for key, value in rows.items():
        table.add_row(key, str(value))
    return table
