"""The warehouse's Delta tables: locations and idempotent writes, shared by the batch and stream jobs."""

from pinpipe.tables.delta import (
    add_dead_letters,
    batch_table,
    dead_letter_table_uri,
    insight_table,
    merge_on_ind,
    merge_rows,
    open_table,
    read_table,
    replace_table,
    run_metadata,
    storage_options,
    upgrade_dead_letters,
    warehouse_table,
)

__all__ = [
    "add_dead_letters",
    "batch_table",
    "dead_letter_table_uri",
    "insight_table",
    "merge_on_ind",
    "merge_rows",
    "open_table",
    "read_table",
    "replace_table",
    "run_metadata",
    "storage_options",
    "upgrade_dead_letters",
    "warehouse_table",
]
