"""One warehouse, two engines: each reads and extends the Delta tables the other wrote.

Day 1 by one engine, day 2 by the other, in both orders, leaves exactly the tables DuckDB alone
writes over the two days: the clean tables row for row, the insights, the dead letters.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pinpipe.batch import run_batch
from pinpipe.engines.spark import SparkEngine
from pinpipe.settings import Settings, get_settings
from tests.batch.lakegen import write_random_lake
from tests.support.warehouse import batch_snapshot

pytestmark = [pytest.mark.spark, pytest.mark.slow]

DAYS = (date(2024, 5, 1), date(2024, 5, 2))  # write_random_lake's two days


def warehouse(home: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PINPIPE_WAREHOUSE_URL", str(home / name))
    return get_settings()


@pytest.mark.parametrize("first", ["duckdb", "spark"])
def test_one_engine_extends_what_the_other_wrote(
    first: str, home: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINPIPE_LAKE_URL", str(home / "lake"))
    write_random_lake(home / "lake", "pinterest", 1200, seed=23)
    reference = warehouse(home, "wh-duckdb", monkeypatch)
    for day in DAYS:
        run_batch(reference, day, "duckdb", progress=lambda _: None)
    mixed = warehouse(home, "wh-mixed", monkeypatch)
    engines = [first, "spark" if first == "duckdb" else "duckdb"]
    for day, engine in zip(DAYS, engines, strict=True):
        instance = SparkEngine(mixed, session=spark) if engine == "spark" else None
        try:
            run_batch(mixed, day, engine, progress=lambda _: None, engine_instance=instance)
        finally:
            if instance is not None:
                instance.close()
    expected, got = batch_snapshot(reference), batch_snapshot(mixed)
    assert expected["pin"].num_rows > 800  # both days' events, replays merged on ind
    for name, table in expected.items():
        assert got[name].equals(table), name
