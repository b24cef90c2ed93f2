"""`pinpipe sql QUERY`: every table by name, each output format, fresh versions, errors as one line."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from pinpipe.cli import main
from pinpipe.insights import INSIGHTS
from pinpipe.settings import get_settings
from pinpipe.sql import QueryError
from pinpipe.tables.delta import read_table
from pinpipe.tables.names import named_tables
from tests.sql.conftest import BATCH_EVENTS, STREAM_EVENTS
from tests.stream.rows import geo_row

NAMES = ["batch_pin", "batch_geo", "batch_user", "stream_pin", "stream_geo", "stream_user", "dead_letter", *INSIGHTS]
# Two events of tests/stream/rows.py: pin 5 has a title (not ASCII), pin 7 is a story (title NULL).
KNOWN_ROWS = (
    'SELECT ind, g.country, g.coordinates, g."timestamp", p.title FROM stream_geo AS g JOIN stream_pin AS p USING (ind)'
    " WHERE ind IN (5, 7) ORDER BY ind"
)


def sql(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["sql", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def append_copies(uri: str, rows: int, ind_offset: int) -> None:
    """Commit ``rows`` more rows to a table: copies of its first rows under new ``ind``s."""
    table = DeltaTable(uri).to_pyarrow_table().slice(0, rows)
    fresh = table.set_column(0, "ind", pa.array([i + ind_offset for i in table["ind"].to_pylist()], pa.int64()))
    write_deltalake(uri, fresh, mode="append")


def test_every_table_name_is_its_delta_table(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = get_settings()
    assert list(named_tables(settings)) == NAMES
    counts = " UNION ALL ".join(f"SELECT '{name}' AS name, count(*) AS n FROM {name}" for name in NAMES)
    code, out, err = sql(capsys, counts, "--format", "json")
    assert code == 0, err
    seen = {row["name"]: row["n"] for row in json_lines(out)}
    tables = named_tables(settings)
    expected = {}
    for name in NAMES:
        table = read_table(tables[name].location)
        assert table is not None, name
        expected[name] = table.num_rows
    assert seen == expected
    assert seen["batch_pin"] == BATCH_EVENTS and seen["stream_pin"] == STREAM_EVENTS and seen["dead_letter"] > 0


def test_dot_tables_lists_every_name_with_its_version(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = sql(capsys, ".tables", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["name"] for row in rows] == NAMES
    stream_pin = next(row for row in rows if row["name"] == "stream_pin")
    assert int(stream_pin["version"]) == DeltaTable(str(warehouse / "stream" / "pin")).version()
    assert stream_pin["location"] == str(warehouse / "stream" / "pin")


def test_csv_is_a_header_and_one_line_per_row(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = sql(capsys, KNOWN_ROWS, "--format", "csv")
    assert code == 0 and err == ""
    header, five, seven = list(csv.reader(io.StringIO(out)))
    assert header == ["ind", "country", "coordinates", "timestamp", "title"]
    assert five[:2] == ["5", "Albania"] and five[3:] == ["2020-08-06T03:52:47+00:00", "Title 5 ✨"]
    assert json.loads(five[2]) == pytest.approx([geo_row(5)["latitude"], geo_row(5)["longitude"]])
    assert seven[3:] == ["2020-08-08T03:52:47+00:00", ""]  # NULL is an empty field


def test_json_is_one_object_per_line(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = sql(capsys, KNOWN_ROWS, "--format", "json")
    assert code == 0 and err == ""
    five, seven = json_lines(out)
    assert list(five) == ["ind", "country", "coordinates", "timestamp", "title"]
    assert five["ind"] == 5 and five["timestamp"] == "2020-08-06T03:52:47+00:00" and five["title"] == "Title 5 ✨"
    assert five["coordinates"] == pytest.approx([geo_row(5)["latitude"], geo_row(5)["longitude"]])
    assert seven["title"] is None


def test_table_shows_values_nulls_and_the_row_count(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = sql(capsys, KNOWN_ROWS.replace("g.coordinates, ", ""))
    assert code == 0
    assert "Title 5 ✨" in out and "2020-08-06 03:52:47+00:00" in out
    story = next(line for line in out.splitlines() if line.lstrip().startswith("7 "))
    assert "NULL" in story
    assert out.rstrip().endswith("2 rows")


def test_table_states_what_it_leaves_out(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = sql(capsys, "SELECT range AS n FROM range(120)", "--limit", "5")
    assert code == 0
    assert [line.strip() for line in out.splitlines() if line.strip().isdigit()] == ["0", "1", "2", "3", "4"]
    assert "120 rows, 5 shown" in out
    wide = ", ".join(f"'{c * 30}' AS {c}" for c in "abcdefgh")  # eight 30-character columns: not in 80 columns
    code, out, _ = sql(capsys, f"SELECT {wide}")
    assert code == 0 and "not shown: " in out and out.rstrip().endswith("h; --format csv|json writes all")


def test_a_query_sees_the_current_version_after_a_commit(
    own_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    count = "SELECT count(*) AS n FROM stream_pin"
    assert sql(capsys, count, "--format", "csv")[1] == f"n\n{STREAM_EVENTS}\n"
    append_copies(str(own_warehouse / "stream" / "pin"), 3, 1000)
    assert sql(capsys, count, "--format", "csv")[1] == f"n\n{STREAM_EVENTS + 3}\n"


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("SELEC 1", "Parser Error"),
        ("SELECT nope FROM stream_pin", "Binder Error"),
        ("SELECT CAST(country AS INT) FROM stream_geo", "Conversion Error"),  # fails as rows are read
    ],
)
def test_a_bad_query_is_one_line_and_exits_non_zero(
    warehouse: Path, capsys: pytest.CaptureFixture[str], query: str, kind: str
) -> None:
    code, out, err = sql(capsys, query, "--format", "csv")
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {kind}: ")
    assert "Traceback" not in err and "LINE 1" not in err


def test_a_missing_table_names_the_tables_there_are(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = sql(capsys, "SELECT * FROM pin_table")
    assert code != 0 and err.count("\n") == 1
    assert "Table with name pin_table does not exist" in err and "the warehouse has: batch_pin, batch_geo" in err


def test_a_table_not_written_yet_says_what_writes_it(own_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(own_warehouse / "stream" / "user")
    code, _, err = sql(capsys, "SELECT count(*) FROM stream_user")
    assert code != 0
    assert "stream_user is not in the warehouse yet: `pinpipe stream run` writes it" in err


def test_debug_shows_the_traceback(warehouse: Path) -> None:
    with pytest.raises(QueryError, match="Parser Error"):
        main(["--debug", "sql", "SELEC 1"])


def test_an_empty_warehouse_is_one_clear_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = sql(capsys, "SELECT 1")
    assert code != 0 and out == ""
    assert err.startswith("error: no tables in the warehouse at file://") and "pinpipe batch run --all" in err
    assert err.count("\n") == 1


@pytest.mark.services
def test_an_s3_warehouse_is_queried_by_name(
    warehouse: Path, aws_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    from pinpipe.tables.delta import storage_options

    boto3.client("s3", endpoint_url=aws_env).create_bucket(Bucket="pinpipe-sql")
    local = named_tables(get_settings())
    monkeypatch.setenv("PINPIPE_WAREHOUSE_URL", "s3://pinpipe-sql/warehouse")
    remote = named_tables(get_settings())
    for name in ("stream_pin", "stream_geo", "top_category_by_country"):
        table = read_table(local[name].location)
        uri = remote[name].location
        write_deltalake(uri, table, storage_options=storage_options(uri))

    code, out, err = sql(capsys, KNOWN_ROWS, "--format", "json")
    assert code == 0, err
    assert [row["ind"] for row in json_lines(out)] == [5, 7] and json_lines(out)[1]["title"] is None
    code, out, _ = sql(capsys, ".tables", "--format", "csv")
    assert out.splitlines()[1:] == [
        "stream_pin,0,s3://pinpipe-sql/warehouse/stream/pin",
        "stream_geo,0,s3://pinpipe-sql/warehouse/stream/geo",
        "top_category_by_country,0,s3://pinpipe-sql/warehouse/insights/top_category_by_country",
    ]
    pins = remote["stream_pin"].location
    write_deltalake(pins, read_table(pins).slice(0, 2), mode="append", storage_options=storage_options(pins))
    assert sql(capsys, "SELECT count(*) AS n FROM stream_pin", "--format", "csv")[1] == f"n\n{STREAM_EVENTS + 2}\n"
    code, _, err = sql(capsys, "SELECT * FROM batch_pin")
    assert code != 0 and "batch_pin is not in the warehouse yet" in err
