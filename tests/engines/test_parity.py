"""DuckDB and Spark, fed the same raw lake, write identical clean, dead-letter and insight tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pinpipe.batch import run_batch
from pinpipe.engines.spark import SparkEngine
from pinpipe.insights import INSIGHTS
from pinpipe.settings import TABLES, Settings, get_settings
from pinpipe.tables import batch_table, dead_letter_table_uri, insight_table, read_table
from tests.batch.lakegen import write_odd_file, write_random_lake

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
    # Each engine wrote its own warehouse: the equalities below never compare a table with itself.
    assert batch_table(on_duckdb, "pin") != batch_table(on_spark, "pin")

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


def test_repeated_keys_and_bytes_that_are_not_utf8_get_one_rule(
    home: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeated key reads its last value, a record that is not UTF-8 is a dead letter, on both engines."""
    monkeypatch.setenv("PINPIPE_LAKE_URL", str(home / "lake"))
    for kind in TABLES:
        topic = f"pinterest.{kind}"
        write_odd_file(home / "lake", topic, kind, start_offset=0)
        write_odd_file(home / "lake", topic, kind, start_offset=0, partition=1, gzip_file=True)
    results = {}
    for name in ("duckdb", "spark"):
        settings = warehouse(home, f"wh-{name}", monkeypatch)
        engine = SparkEngine(settings, session=spark) if name == "spark" else None
        summary = run_batch(settings, None, name, progress=lambda _: None, engine_instance=engine)
        if engine is not None:
            engine.close()
        tables = {kind: read_table(batch_table(settings, kind)) for kind in TABLES}
        dead = read_table(dead_letter_table_uri(settings))
        assert dead is not None
        order = [("topic", "ascending"), ("partition", "ascending"), ("offset", "ascending")]
        results[name] = (summary.records_read, tables, dead.drop_columns(["time"]).sort_by(order))
    (read, tables, dead), (spark_read, spark_tables, spark_dead) = results["duckdb"], results["spark"]
    assert read == spark_read == {"pin": 6, "geo": 6, "user": 6}
    for kind in TABLES:
        a, b = tables[kind], spark_tables[kind]
        assert a is not None and b is not None
        assert a.sort_by("ind").equals(b.sort_by("ind")), kind
    assert dead.equals(spark_dead)
    assert dead.num_rows == 6 and set(dead.column("reason").to_pylist()) == {"record is not valid UTF-8"}
    pins = {r["ind"]: r for r in tables["pin"].to_pylist()}
    assert pins[9002]["title"] == "last" and pins[9002]["follower_count"] == 2000
    users = {r["ind"]: r for r in tables["user"].to_pylist()}
    assert users[9001]["age"] == 30 and users[9001]["user_name"] == "Z B"
