"""How the demo's results look in a terminal: the nine insights and the run summary as rich tables."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from pinpipe.display import MoreRows, print_tables

INSIGHT_ROWS_SHOWN = 8


def _more_in_insights_show(name: str, shown: int, total: int) -> str:
    return f"… {total - shown:,} more rows: pinpipe insights show {name}"


def print_insights(
    console: Console,
    tables: dict[str, pa.Table],
    limit: int | None = INSIGHT_ROWS_SHOWN,
    more: MoreRows = _more_in_insights_show,
) -> None:
    """The insights as the demo prints them (`pinpipe insights show` too): ``limit`` rows each, ``None`` all;
    ``more`` says what was left out (by default that ``pinpipe insights show NAME`` has the rest)."""
    print_tables(console, tables, limit=limit, more=more)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def summary_table(summary: dict[str, Any]) -> Table:
    """Records per topic/stream, throughput, stream latency, dead letters, time per phase."""
    table = Table(title="pinpipe demo: run summary", header_style="bold")
    table.add_column("what")
    table.add_column("records", justify="right")
    table.add_column("detail", justify="right", no_wrap=True)
    for topic in summary["topics"]:
        table.add_row(f"topic {topic['name']}", f"{topic['records']:,}", f"lake, lag {topic['lag']:,}")
    for stream in summary["streams"]:
        rows = stream.get("table_rows")
        table.add_row(
            f"stream {stream['name']}",
            f"{stream['records']:,}",
            f"{rows or 0:,} Delta rows, lag {stream['lag']:,}",
        )
    for emulator in summary["emulators"]:
        table.add_row(
            f"emulate {emulator['route']}",
            f"{emulator['records_acknowledged']:,}",
            f"{emulator['records_per_s']:,.0f} records/s",
        )
    throughput = summary["throughput"]
    if throughput.get("end_to_end_records_per_s"):
        table.add_row(
            "ingest → caught up",
            f"{throughput['records_acknowledged']:,}",
            f"{throughput['end_to_end_records_per_s']:,.0f} records/s",
        )
    job = summary.get("stream_job") or {}
    if job:
        table.add_row(
            "stream job",
            f"{job.get('records', 0):,}",
            f"p50 {_ms(job.get('p50_ms'))} · p99 {_ms(job.get('p99_ms'))}",
        )
    batch = summary["batch"]
    table.add_row(
        f"batch job ({batch['engine']}, {batch['scope']})", f"{batch['records_total']:,}", f"{batch['seconds']:.1f} s"
    )
    table.add_row("dead letters", f"{summary.get('dead_letters') or 0:,}", "warehouse/dead_letter")
    return table


def phases_line(summary: dict[str, Any]) -> str:
    phases = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in summary["phases"].items())
    return f"{summary['seconds']:.1f} s in all: {phases}"
