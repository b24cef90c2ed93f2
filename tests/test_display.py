"""The house style of data shown to people: number formats, NULL, times, nested values, the width."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
from rich.console import Console

from pinpipe.display import cell_text, json_text, rows_view


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2019, "2019"),  # years are not grouped
        (123_456, "123,456"),
        (12_000.0, "12,000.0"),
        (0.004, "0.004"),  # not shown as 0.0
        (Decimal("123456"), "123,456"),  # DuckDB's sum() of integers
        (None, None),
        (True, "true"),
        (dt.datetime(2020, 8, 28, 3, 52, 47, tzinfo=dt.UTC), "2020-08-28 03:52:47+00:00"),
        ([-89.97, 1.5], "[-89.97,1.5]"),
        ({"a": None}, '{"a":null}'),
        (pa.MonthDayNano([0, 1, 0]), "P0M1DT0S"),
    ],
)
def test_cell_text(value: object, text: str | None) -> None:
    assert cell_text(value) == text


def test_json_text_writes_what_json_has_no_type_for() -> None:
    written = json_text([Decimal("2") ** 70, Decimal("1.5"), b"abc", float("nan")])
    assert written == '["1180591620717411303424",1.5,"YWJj",null]'


def test_rows_view_cuts_text_before_it_leaves_columns_out() -> None:
    schema = pa.schema([("n", pa.int64()), ("wide", pa.string()), ("wider", pa.string())])
    row = (123_456_789, "x" * 40, "y" * 40)
    view = rows_view(schema, [row], width=60)
    assert [column.header for column in view.columns] == ["n", "wide", "wider"]
    console = Console(width=60, record=True)
    console.print(view)
    lines = console.export_text().splitlines()
    assert "123,456,789" in lines[-1] and lines[-1].count("…") == 2  # the number whole, both texts cut
    assert max(len(line) for line in lines) <= 60
    assert [column.header for column in rows_view(schema, [row], width=30).columns] == ["n", "wide"]
    assert len(rows_view(schema, [row]).columns) == 3  # no width given: every column
