"""Arrow rows as rich tables in the house style, for every command that shows data to a person.

One look everywhere (the demo's insights, `pinpipe sql`): numbers right-aligned, integers grouped
only from five digits (so years stay ``2019``), floats with one decimal (unless that would show a
small value as zero), NULL as a dim ``NULL`` so it never passes for an empty string, timestamps in
ISO form with their offset, nested values as compact JSON. A cell too wide for the terminal is cut
with ``…`` rather than wrapped, so a row stays one line.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

NULL = Text("NULL", style="dim")
CELL_WIDTH = 48
TEXT_FLOOR = 12


def json_default(value: Any) -> Any:
    """What orjson cannot write itself: decimals as numbers, intervals and blobs as text."""
    if isinstance(value, Decimal):  # DuckDB's sum() of integers is a HUGEINT, a decimal in Arrow
        if value != value.to_integral_value():
            return float(value)
        number = int(value)
        return number if -(2**63) <= number < 2**64 else str(value)  # orjson writes 64-bit integers only
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, pa.MonthDayNano):  # an INTERVAL, as an ISO 8601 duration
        return f"P{value.months}M{value.days}DT{value.nanoseconds / 1e9:g}S"
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def json_text(value: Any) -> str:
    """``value`` as compact JSON (timestamps as RFC 3339, NaN as null)."""
    return orjson.dumps(value, default=json_default).decode("utf-8")


def cell_text(value: Any) -> str | None:
    """The text of one value in a table (``None`` for NULL): the house number format, ISO times."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        return f"{value:.3g}" if 0 < abs(value) < 0.05 else f"{value:,.1f}"
    if isinstance(value, Decimal):
        return cell_text(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | pa.MonthDayNano):
        return json_default(value)
    if isinstance(value, list | tuple | dict):
        return json_text(value)
    return str(value)


def _cell(value: Any) -> Text:
    text = cell_text(value)
    return NULL if text is None else Text(text)  # Text: a value's brackets are never read as markup


def _numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _fitted_widths(natural: Sequence[int], whole: Sequence[bool], width: int) -> list[int]:
    """Widths of the leading columns that fit in ``width``, with " │ " between them (one column at least).

    Text columns give way first, the widest a character at a time, down to :data:`TEXT_FLOOR`;
    ``whole`` ones (numbers, times) are never cut. Columns that still do not fit are left out, from the right.
    """
    floors = [w if kept else min(w, TEXT_FLOOR) for w, kept in zip(natural, whole, strict=True)]
    shown, used = 0, -3
    for floor in floors:
        used += floor + 3
        if used > width and shown:
            break
        shown += 1
    widths = list(natural[:shown])
    excess = sum(widths) + 3 * (shown - 1) - width
    while excess > 0:
        shrinkable = [i for i in range(shown) if widths[i] > floors[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=widths.__getitem__)
        widths[widest] -= 1
        excess -= 1
    return widths


def rows_view(schema: pa.Schema, rows: Sequence[Sequence[Any]], *, width: int | None = None) -> Table:
    """A table of ``rows`` (values in ``schema``'s column order), numeric columns right-aligned.

    A cell shows at most :data:`CELL_WIDTH` characters. With ``width`` (the terminal's) the table
    fits in it by :func:`_fitted_widths` — rich alone would squeeze every column, numbers too, down
    to nothing — and ``len(view.columns)`` tells the caller how many columns are shown, to say so.
    """
    cells = [[_cell(value) for value in row] for row in rows]
    numeric = [_numeric(field.type) for field in schema]
    natural = [
        min(CELL_WIDTH, max([cell_len(field.name), *(cell_len(row[i].plain) for row in cells)]))
        for i, field in enumerate(schema)
    ]
    whole = [is_number or pa.types.is_temporal(field.type) for is_number, field in zip(numeric, schema, strict=True)]
    widths: list[int | None] = [None] * len(natural) if width is None else list(_fitted_widths(natural, whole, width))
    view = Table(header_style="bold", show_edge=False, pad_edge=False)
    for field, is_number, column_width in zip(schema, numeric, widths, strict=False):
        view.add_column(
            field.name,
            justify="right" if is_number else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=column_width,
            max_width=CELL_WIDTH,
        )
    for row in cells:
        view.add_row(*row[: len(widths)])
    return view


def table_rows(table: pa.Table | pa.RecordBatch) -> list[tuple[Any, ...]]:
    """The rows of an Arrow table as tuples (column names may repeat in a query's result)."""
    columns = [column.to_pylist() for column in table.columns]
    return list(zip(*columns, strict=True)) if columns else []


#: What to say under a table cut at ``shown`` of its ``total`` rows, given the table's name.
MoreRows = Callable[[str, int, int], str]


def print_tables(console: Console, tables: Mapping[str, pa.Table], *, limit: int | None, more: MoreRows) -> None:
    """Each table's name and row count on its own line (never wrapped into a narrow table's title),
    then at most ``limit`` of its rows (``None``: all), then ``more``'s line if some were left out:
    a cut table never passes for the whole one."""
    for name, table in tables.items():
        console.print(f"[bold]{name}[/bold] [dim]({table.num_rows:,} rows)[/dim]", highlight=False, soft_wrap=True)
        shown = table if limit is None else table.slice(0, limit)
        console.print(rows_view(table.schema, table_rows(shown)))
        if shown.num_rows < table.num_rows:
            console.print(Text(more(name, shown.num_rows, table.num_rows), style="dim"), soft_wrap=True)
        console.print()
