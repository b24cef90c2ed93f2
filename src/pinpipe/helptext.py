"""Help that shows a flag as a flag: ``--serve``, not ``--serve <bool>``.

typer 0.29's rich help prints every option's type, flags included (``TyperOption.display_type_rich``
answers ``<bool>``), although its plain help leaves a flag's type out, as click always did: a flag
takes no value, so a type there reads as if ``--serve true`` were needed. typer has no setting for
it (``metavar`` is not read for options), so :class:`Group` — the class of every pinpipe command
group, given where the groups are made (``pinpipe``'s verbs, ``python -m pinpipe.sink``) — gives the
flags of every command it resolves the class :class:`FlagOption`, which answers no type for a flag.
That uses typer's public extension points only (``cls=``, ``get_command``, ``get_params``); typer
itself is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from typer.core import TyperGroup, TyperOption

if TYPE_CHECKING:  # typer's own click (vendored); only the signatures below name it
    from typer._click import Command, Context, Parameter


class FlagOption(TyperOption):
    """An option whose help shows no type when it takes no value (a flag or a counter)."""

    def display_type_rich(self, ctx: Context) -> str | None:
        if self.is_flag or self.count:
            return None
        return super().display_type_rich(ctx)


def untyped_flags(params: Iterable[Parameter]) -> None:
    """Make each flag among ``params`` a :class:`FlagOption` in place (it holds no state of its own)."""
    for param in params:
        if type(param) is TyperOption and (param.is_flag or param.count):
            param.__class__ = FlagOption


class Group(TyperGroup):
    """A command group whose help, and its commands' help (``--help`` included), shows flags as flags."""

    def get_params(self, ctx: Context) -> list[Parameter]:
        params = super().get_params(ctx)
        untyped_flags(params)
        return params

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None and not isinstance(command, Group):  # a group does it itself
            untyped_flags(command.get_params(ctx))
        return command
