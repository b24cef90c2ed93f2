"""`pinpipe demo`: the main job, end to end on embedded defaults."""

from __future__ import annotations

import typer

from pinpipe.cli._common import not_built


def demo(ctx: typer.Context) -> None:
    """Run everything end to end on embedded defaults, then show the insights."""
    not_built("demo", 9)
