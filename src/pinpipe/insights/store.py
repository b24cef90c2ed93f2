"""Reading the insight tables back from the warehouse, and exporting them as files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from pinpipe.errors import PinpipeError
from pinpipe.insights.queries import INSIGHTS, get_insight
from pinpipe.settings import Settings
from pinpipe.tables.delta import insight_table, read_table

FORMATS: tuple[str, ...] = ("csv", "json", "parquet")


def load_insights(settings: Settings, name: str | None = None) -> dict[str, pa.Table]:
    """The insight tables (all, or the one named), with exactly their DESIGN columns."""
    names = [get_insight(name).name] if name else list(INSIGHTS)
    found: dict[str, pa.Table] = {}
    for insight_name in names:
        table = read_table(insight_table(settings, insight_name))
        if table is None:
            raise PinpipeError(
                f"no insight table {insight_name!r} in {settings.warehouse_url}",
                hint="run `pinpipe batch run --all` (or --date YYYY-MM-DD) first",
            )
        found[insight_name] = table.select(INSIGHTS[insight_name].columns)
    return found


def export_insights(settings: Settings, out: Path, fmt: str) -> list[Path]:
    """Write ``<out>/<name>.<fmt>`` for every insight; json is one object per line."""
    if fmt not in FORMATS:
        raise PinpipeError(f"unknown export format {fmt!r}", hint="use one of: " + ", ".join(FORMATS))
    tables = load_insights(settings)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables.items():
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, path)
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, path)
        else:
            with path.open("w", encoding="utf-8") as handle:
                for row in table.to_pylist():
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        written.append(path)
    return written
