"""The warehouse's tables by name (DESIGN.md "Tables by name"): one list of names and locations.

Whoever offers the tables by name — `pinpipe sql`, a metastore — takes them from here, so a name
always means the same Delta table and a new table is named once. Each name also says which
command writes its table, so a reader asking for one not written yet is told what to run.
"""

from __future__ import annotations

from dataclasses import dataclass

from pinpipe.insights.queries import INSIGHTS
from pinpipe.settings import TABLES, Settings
from pinpipe.tables.delta import batch_table, dead_letter_table_uri, insight_table, warehouse_table

BATCH_WRITER = "pinpipe batch run --all"
STREAM_WRITER = "pinpipe stream run"


@dataclass(frozen=True, slots=True)
class NamedTable:
    """A warehouse table under its name: where it lives, and the command that writes it."""

    name: str
    location: str
    written_by: str


def named_tables(settings: Settings) -> dict[str, NamedTable]:
    """Every table name of the warehouse (whether its table exists yet or not), in a stable order."""
    tables = [NamedTable(f"batch_{kind}", batch_table(settings, kind), BATCH_WRITER) for kind in TABLES]
    tables += [
        NamedTable(f"stream_{kind}", warehouse_table(settings, "stream", kind), STREAM_WRITER) for kind in TABLES
    ]
    tables.append(NamedTable("dead_letter", dead_letter_table_uri(settings), f"{BATCH_WRITER} or {STREAM_WRITER}"))
    tables += [NamedTable(name, insight_table(settings, name), BATCH_WRITER) for name in INSIGHTS]
    return {table.name: table for table in tables}


def catalog_name(settings: Settings, name: str) -> str:
    """A table's name in a metastore (``PINPIPE_CATALOG``): the seed's ``<prefix>_pin_table`` for the
    stream tables, as its Databricks notebooks named them; ``<prefix>_<name>`` for every other."""
    if name.startswith("stream_"):
        return f"{settings.prefix}_{name.removeprefix('stream_')}_table"
    return f"{settings.prefix}_{name}"
