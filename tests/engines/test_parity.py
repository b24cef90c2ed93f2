"""DuckDB and Spark, fed the same raw lake, write identical clean, dead-letter and insight tables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pinpipe.batch import run_batch
from pinpipe.engines.spark import SparkEngine
from pinpipe.insights import INSIGHTS
from pinpipe.settings import TABLES, Settings, get_settings
from pinpipe.tables import batch_table, dead_letter_table_uri, insight_table, read_table
from tests.batch.lakegen import write_random_lake

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def warehouse(home: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PINPIPE_WAREHOUSE_URL", str(home / name))
    return get_settings()


def test_duckdb_and_spark_tables_are_identical(home: Path, spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINPIPE_LAKE_URL", str(home / "lake"))
    write_random_lake(home / "lake", "pinterest", 1500, seed=11)
    on_duckdb = warehouse(home, "wh-duckdb", monkeypatch)
    first = run_batch(on_duckdb, None, "duckdb", progress=lambda _: None)
    on_spark = warehouse(home, "wh-spark", monkeypatch)
    engine = SparkEngine(on_spark, session=spark)
    second = run_batch(on_spark, None, "spark", progress=lambda _: None, engine_instance=engine)
    engine.close()
    assert os.environ["PINPIPE_WAREHOUSE_URL"].endswith("wh-spark")

    assert first.records_read == second.records_read
    assert first.rows_written == second.rows_written
    for kind in TABLES:
        a, b = (read_table(batch_table(s, kind)) for s in (on_duckdb, on_spark))
        assert a is not None and b is not None
        assert a.num_rows > 900
        assert a.sort_by("ind").equals(b.sort_by("ind")), kind
    for name in INSIGHTS:
        a, b = (read_table(insight_table(s, name)) for s in (on_duckdb, on_spark))
        assert a is not None and b is not None and a.num_rows > 0
        assert a.equals(b), name  # same rows in the same order: ties and exact medians alike
    a, b = (read_table(dead_letter_table_uri(s)) for s in (on_duckdb, on_spark))
    assert a is not None and b is not None and a.num_rows == 7
    order = [("topic", "ascending"), ("offset", "ascending")]
    assert a.drop_columns(["time"]).sort_by(order).equals(b.drop_columns(["time"]).sort_by(order))
    # every placeholder class and the null follower counts really occurred
    pins = read_table(batch_table(on_duckdb, "pin"))
    assert pins is not None
    for column in ("title", "description", "poster_name", "follower_count", "tag_list", "image_src"):
        assert pins.column(column).null_count > 0, column
