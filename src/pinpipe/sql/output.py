"""A result on stdout: a rich table for people, CSV or JSON lines for programs.

``table`` shows at most ``limit`` rows and says how many there are in all; ``csv`` and ``json``
write every row and nothing else, so they pipe. JSON is one object per line (JSON lines, as
`pinpipe insights export` writes it): ``jq`` reads such a stream as it is, ``jq -s`` makes it one
array, and a large result never has to be held whole. Values keep their meaning in each format:
NULL is an empty CSV field and JSON ``null``; timestamps are ISO 8601 with their offset
(``2020-08-28T03:52:47+00:00``); arrays and structs are JSON (in CSV, a JSON text in one field).
"""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any, TextIO

import orjson
import pyarrow as pa
from rich.console import Console

from pinpipe.display import json_default, json_text, rows_view, table_rows
from pinpipe.errors import ConfigError
from pinpipe.sql.session import Result

DEFAULT_LIMIT = 50
FORMATS: tuple[str, ...] = ("table", "csv", "json")


def write_result(result: Result, fmt: str, *, console: Console, out: TextIO, limit: int = DEFAULT_LIMIT) -> None:
    """``result`` in ``fmt``: a table on ``console``, CSV or JSON lines on ``out``."""
    if fmt == "csv":
        write_csv(result, out)
    elif fmt == "json":
        write_json_lines(result, out)
    elif fmt == "table":
        print_table(result, console, limit)
    else:
        raise ConfigError(f"unknown output format {fmt!r}", hint="use one of: " + ", ".join(FORMATS))


def print_table(result: Result, console: Console, limit: int = DEFAULT_LIMIT) -> None:
    """The first ``limit`` rows, then how many rows there are (every batch is counted, none kept)."""
    shown: list[tuple[Any, ...]] = []
    total = 0
    for batch in result.batches:
        if len(shown) < limit:
            shown.extend(table_rows(batch.slice(0, limit - len(shown))))
        total += batch.num_rows
    view = rows_view(result.schema, shown, width=console.width)
    console.print(view)
    hidden = result.schema.names[len(view.columns) :]
    console.print(shown_line(total, len(shown), hidden), style="dim", highlight=False, soft_wrap=True)


def shown_line(total: int, shown: int, hidden_columns: list[str]) -> str:
    """How many rows there are, and what the table left out: rows past the limit, columns past the width."""
    line = f"{total:,} row" + ("" if total == 1 else "s")
    if shown < total:
        line += f", {shown:,} shown (--limit N for more)"
    if hidden_columns:
        line += "; not shown: " + ", ".join(hidden_columns)
    if shown < total or hidden_columns:
        line += "; --format csv|json writes all"
    return line


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | pa.MonthDayNano):
        return json_default(value)
    if isinstance(value, list | tuple | dict):
        return json_text(value)
    return value


def write_csv(result: Result, out: TextIO) -> None:
    """A header line, then one line per row (RFC 4180 quoting)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.schema.names)
    for batch in result.batches:
        writer.writerows([_csv_value(v) for v in row] for row in table_rows(batch))


def write_json_lines(result: Result, out: TextIO) -> None:
    """One JSON object per row, keys in column order."""
    names = result.schema.names
    for batch in result.batches:
        for row in table_rows(batch):
            out.write(orjson.dumps(dict(zip(names, row, strict=True)), default=json_default).decode("utf-8") + "\n")
