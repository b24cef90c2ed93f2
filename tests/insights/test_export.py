"""`pinpipe insights export|show`: one file per insight, exactly the DESIGN columns, in every format."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pinpipe.batch import run_batch
from pinpipe.cli import main
from pinpipe.insights import INSIGHTS
from pinpipe.settings import get_settings
from tests.batch.lakegen import write_random_lake


@pytest.fixture
def warehouse(home: Path) -> Path:
    settings = get_settings()
    write_random_lake(settings.home / "lake", settings.prefix, 150)
    run_batch(settings, None, "duckdb", progress=lambda _: None)
    return home


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_writes_name_dot_ext_with_exact_columns(warehouse: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    assert main(["insights", "export", "--out", str(out), "--format", fmt]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.{fmt}" for name in INSIGHTS)
    for name, insight in INSIGHTS.items():
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            with path.open() as handle:
                header = next(csv.reader(handle))
        elif fmt == "json":
            first = json.loads(path.read_text().splitlines()[0])
            header = list(first)
        else:
            header = pq.read_schema(path).names
        assert header == insight.columns, name


def test_show_prints_a_table_and_refuses_unknown_names(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["insights", "show", "users_joined_by_year"]) == 0
    out = capsys.readouterr().out
    assert "users_joined_by_year" in out and "number_users_joined" in out
    assert main(["insights", "show", "nope"]) != 0
    assert "unknown insight" in capsys.readouterr().err


def test_show_says_where_it_cuts_and_formats_numbers_as_the_demo(
    warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pinpipe.insights.store import load_insights

    total = load_insights(get_settings(), "top_user_by_country")["top_user_by_country"].num_rows
    assert total > 2
    assert main(["insights", "show", "top_user_by_country", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert f"showing 2 of {total} rows; --limit N to change (0: all)" in out
    assert "7,000,000" in out and "7000000" not in out, "numbers are grouped as in the demo"
    assert main(["insights", "show", "top_user_by_country", "--limit", "0"]) == 0
    out = capsys.readouterr().out
    assert "showing" not in out and out.count("│") == 2 * total, "--limit 0 shows every row, and says no cut"
    assert main(["insights", "show", "median_followers_by_age_group"]) == 0
    assert "12,000.0" in capsys.readouterr().out


def test_show_before_any_run_says_what_to_do(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["insights", "show"]) != 0
    assert "pinpipe batch run" in capsys.readouterr().err
