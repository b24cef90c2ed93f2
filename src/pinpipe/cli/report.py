"""`pinpipe report`: the self-contained HTML report (the work is in :mod:`pinpipe.report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pinpipe.cli._common import console, settings


def report(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            dir_okay=False,
            help="HTML file to write (default $PINPIPE_HOME/reports/pinpipe-report-<UTC time>.html).",
        ),
    ] = None,
) -> None:
    """Write one self-contained HTML file of the latest insights, the pipeline status and the last run.

    Charts, styles and data are all inside the file: it opens offline and can be mailed as it is.
    """
    from pinpipe.report.page import write_report
    from pinpipe.report.status import open_status

    config = settings(ctx)
    status, close = open_status(config)
    try:
        path = write_report(config, out, status=status)
    finally:
        close()
    console().print(f"report: {path}", highlight=False, soft_wrap=True)
