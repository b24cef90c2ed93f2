"""Whole warehouses as tables a test can compare row for row."""

from __future__ import annotations

import pyarrow as pa

from pinpipe.insights import INSIGHTS
from pinpipe.settings import TABLES, Settings
from pinpipe.tables import batch_table, dead_letter_table_uri, insight_table, read_table


def batch_snapshot(settings: Settings) -> dict[str, pa.Table]:
    """Every batch warehouse table, sorted so two runs compare row for row (dead letter times aside)."""
    out: dict[str, pa.Table] = {}
    for kind in TABLES:
        table = read_table(batch_table(settings, kind))
        assert table is not None, kind
        out[kind] = table.sort_by("ind")
    for name in INSIGHTS:
        table = read_table(insight_table(settings, name))
        assert table is not None, name
        out[name] = table
    dead = read_table(dead_letter_table_uri(settings))
    assert dead is not None
    out["dead_letter"] = dead.drop_columns(["time"]).sort_by([("topic", "ascending"), ("offset", "ascending")])
    return out
