"""Delta tables of the warehouse, through deltalake (delta-rs): where they live and how they are written.

Shared by the batch job and the stream job. Writes are shaped for idempotency: batch tables are
merged on ``ind`` (a rerun or a later day updates rows instead of adding them), dead letters are
merged on their record's key (a rerun adds nothing), insights are replaced whole. Local tables are
plain paths; ``s3://`` tables get their credentials and endpoint from the AWS environment, as boto3
and s3fs would (AWS_ENDPOINT_URL, keys, region, …), never from code; an ``http://`` endpoint is
allowed for delta-rs as it is for them.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from pinpipe.aws import aws_environment, require_bucket
from pinpipe.clean.schema import DEAD_LETTER_ADDED, DEAD_LETTER_KEY, DEAD_LETTER_SCHEMA, POSITION_OF_OFFSET, conform
from pinpipe.settings import Settings, local_path

Rows: TypeAlias = pa.Table | pa.RecordBatchReader

# Environment variables object_store understands for S3; passed through as they are set.
_AWS_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ALLOW_HTTP",
    "AWS_PROFILE",
    "AWS_S3_ALLOW_UNSAFE_RENAME",
)


def storage_options(uri: str) -> dict[str, str] | None:
    """deltalake storage options for ``uri``: the AWS environment for s3://, nothing for local paths."""
    if not uri.startswith(("s3://", "s3a://")):
        return None
    options = {key: os.environ[key] for key in _AWS_ENV if os.environ.get(key)}
    # No credentials, or no such bucket: one line now, not object_store's instance-metadata retries
    # or its error chain later.
    require_bucket(uri)
    # The endpoint, region and credentials as boto3 resolves them (config files and profiles too), and
    # an http:// endpoint (moto, MinIO, LocalStack) allowed as s3fs and boto3 allow it: object_store
    # refuses one ("URL scheme is not allowed") unless told AWS_ALLOW_HTTP, which no other client needs.
    aws = aws_environment()
    if aws.access_key and aws.secret_key:
        options["AWS_ACCESS_KEY_ID"] = aws.access_key
        options["AWS_SECRET_ACCESS_KEY"] = aws.secret_key
        if aws.session_token:
            options["AWS_SESSION_TOKEN"] = aws.session_token
    if aws.endpoint_url:
        options["AWS_ENDPOINT_URL"] = aws.endpoint_url
    if aws.region:
        options.setdefault("AWS_REGION", aws.region)
    if aws.allow_http:
        options["AWS_ALLOW_HTTP"] = "true"
    # Plain S3 has no atomic rename-if-absent across writers; pinpipe has one writer per table.
    options.setdefault("AWS_S3_ALLOW_UNSAFE_RENAME", "true")
    return options


def table_location(url: str) -> str:
    """A table's location as deltalake and DuckDB take it: a local path for ``file://``, else the URL."""
    return local_path(url)


def warehouse_table(settings: Settings, *parts: str) -> str:
    """The location of ``warehouse/<parts>`` (e.g. ``batch/pin``, ``insights/<name>``, ``dead_letter``)."""
    assert settings.warehouse_url is not None
    return table_location(settings.warehouse_url.rstrip("/") + "/" + "/".join(parts))


def batch_table(settings: Settings, kind: str) -> str:
    return warehouse_table(settings, "batch", kind)


def insight_table(settings: Settings, name: str) -> str:
    return warehouse_table(settings, "insights", name)


def dead_letter_table_uri(settings: Settings) -> str:
    return warehouse_table(settings, "dead_letter")


def open_table(uri: str) -> Any | None:
    """The Delta table at ``uri``, or ``None`` when there is none yet."""
    from deltalake import DeltaTable

    options = storage_options(uri)
    if not DeltaTable.is_deltatable(uri, storage_options=options):
        return None
    return DeltaTable(uri, storage_options=options)


def conformed(rows: Rows, schema: pa.Schema) -> pa.RecordBatchReader:
    """``rows`` as a stream with exactly ``schema`` (an engine's naive timestamps become UTC, …)."""
    if isinstance(rows, pa.Table):
        return pa.RecordBatchReader.from_batches(schema, conform(rows, schema).to_batches())

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in rows:
            yield from conform(pa.Table.from_batches([batch]), schema).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


def _commit(metadata: Mapping[str, str] | None) -> Any:
    from deltalake import CommitProperties

    return CommitProperties(custom_metadata=dict(metadata or {}))


def merge_rows(
    uri: str,
    rows: Rows,
    schema: pa.Schema,
    keys: Sequence[str],
    *,
    update: bool,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Merge ``rows`` (unique on ``keys``) into the table: insert new keys, update matched ones if ``update``.

    A table that does not exist yet is simply written, which is much cheaper than a merge.
    """
    data = conformed(rows, schema)
    table = open_table(uri)
    if table is None:
        _append(uri, data, metadata)
        return
    predicate = " AND ".join(f"target.`{k}` = source.`{k}`" for k in keys)
    merger = table.merge(
        data, predicate, source_alias="source", target_alias="target", commit_properties=_commit(metadata)
    )
    if update:
        merger = merger.when_matched_update_all()
    merger.when_not_matched_insert_all().execute()


def _ind_bound(table: Any) -> tuple[bool, int | None]:
    """(known, the table's largest ``ind``) from its files' statistics, without reading a row.

    The largest is ``None`` when the table has no rows; not known when a file carries no statistics.
    """
    actions = pa.table(table.get_add_actions(flatten=True))
    if actions.num_rows == 0 or not pc.sum(actions.column("num_records")).as_py():
        return True, None
    if "max.ind" not in actions.column_names or actions.column("max.ind").null_count:
        return False, None
    return True, int(pc.max(actions.column("max.ind")).as_py())


def upsert_bound(uri: str) -> tuple[bool, int | None]:
    """(known, largest ``ind``) of the table at ``uri``: rows above it can only be appended.

    ``(True, None)`` when there is no table or no row yet; not known when a file has no statistics.
    """
    table = open_table(uri)
    return _ind_bound(table) if table is not None else (True, None)


def merge_on_ind(uri: str, rows: Rows, schema: pa.Schema, metadata: Mapping[str, str] | None = None) -> None:
    """Upsert clean rows (one per ``ind``): reruns and later days leave one row per ``ind``.

    Only rows whose ``ind`` may already be in the table are merged: a row above the table's largest
    ``ind`` (its files' statistics say which, without reading them) is appended, which is much
    cheaper than a merge — a first run appends everything, a later day mostly appends (the source's
    index grows) and merges its replays of older events. The rows to merge are spooled to an Arrow
    file meanwhile, so memory stays bounded. Two commits then, append before merge: should the merge
    fail, a rerun merges everything again.
    """
    known, bound = upsert_bound(uri)
    if not known:
        merge_rows(uri, rows, schema, ("ind",), update=True, metadata=metadata)
        return
    data = conformed(rows, schema)
    if bound is None:
        _append(uri, data, metadata)
        return
    with tempfile.TemporaryDirectory(prefix="pinpipe-merge-") as folder:
        spool_path = os.path.join(folder, "merge.arrow")
        with pa.OSFile(spool_path, "wb") as sink, pa.ipc.new_file(sink, schema) as spool:

            def split() -> Iterator[pa.RecordBatch]:
                for batch in data:
                    fresh = pc.greater(batch.column("ind"), bound)
                    old = batch.filter(pc.invert(fresh))
                    if old.num_rows:
                        spool.write_batch(old)
                    new = batch.filter(fresh)
                    if new.num_rows:
                        yield new

            fresh_rows = split()
            first = next(fresh_rows, None)  # spools the old rows up to the first new one (maybe all)
            if first is not None:
                _append(uri, pa.RecordBatchReader.from_batches(schema, itertools.chain([first], fresh_rows)), metadata)
        with pa.memory_map(spool_path) as source:
            spooled = pa.ipc.open_file(source)
            if spooled.num_record_batches:
                batches = (spooled.get_batch(i) for i in range(spooled.num_record_batches))
                merged = pa.RecordBatchReader.from_batches(schema, batches)
                merge_rows(uri, merged, schema, ("ind",), update=True, metadata=metadata)


def _append(uri: str, data: pa.RecordBatchReader, metadata: Mapping[str, str] | None) -> None:
    """Append ``data`` in one commit (creating the table if need be)."""
    from deltalake import write_deltalake

    write_deltalake(uri, data, mode="append", storage_options=storage_options(uri), commit_properties=_commit(metadata))


@dataclass(frozen=True, slots=True)
class FileStats:
    """A Parquet file an engine wrote into a table's folder, and what its Delta add action says of it.

    ``columns`` holds the engine's statistics per top-level column as text (``min``, ``max``,
    ``null_count``); only exact integer bounds and null counts reach the log (enough for pinpipe's
    ``ind`` bound and any reader's pruning; a reader never needs more).
    """

    path: str  # relative to the table's root
    size: int
    rows: int
    columns: Mapping[str, Mapping[str, str]]


def _delta_stats(file: FileStats, schema: pa.Schema) -> str:
    """The add action's ``stats`` JSON: row count, null counts, exact bounds of integer columns."""
    minimum: dict[str, int] = {}
    maximum: dict[str, int] = {}
    nulls: dict[str, int] = {}
    for field in schema:
        stats = file.columns.get(field.name, {})
        if "null_count" in stats:
            nulls[field.name] = int(stats["null_count"])
        exact = stats.get("min_is_exact", "true") == "true" and stats.get("max_is_exact", "true") == "true"
        if pa.types.is_integer(field.type) and exact and "min" in stats and "max" in stats:
            minimum[field.name], maximum[field.name] = int(stats["min"]), int(stats["max"])
    return json.dumps({"numRecords": file.rows, "minValues": minimum, "maxValues": maximum, "nullCount": nulls})


def add_files(
    uri: str, files: Sequence[FileStats], schema: pa.Schema, metadata: Mapping[str, str] | None = None
) -> None:
    """Commit Parquet files already written into the table's folder as one append (creating the table).

    What lets an engine with a parallel Parquet writer of its own (DuckDB) skip Arrow and delta-rs's
    encoding; the table is the same Delta table either way.
    """
    from deltalake import Schema
    from deltalake.transaction import AddAction, create_table_with_add_actions

    now = int(time.time() * 1000)
    actions = [AddAction(f.path, f.size, {}, now, True, _delta_stats(f, schema)) for f in files]
    table = open_table(uri)
    if table is None:
        create_table_with_add_actions(
            uri,
            Schema.from_arrow(schema),
            actions,
            mode="append",
            storage_options=storage_options(uri),
            commit_properties=_commit(metadata),
        )
        return
    table.create_write_transaction(
        actions, mode="append", schema=Schema.from_arrow(schema), commit_properties=_commit(metadata)
    )


def parquet_files(table: Any) -> list[str] | None:
    """The local paths of the table's data files, when reading them as plain Parquet reads the table.

    That holds for reader protocol 1 (no column mapping, no deletion vectors) without partition
    columns: what pinpipe's engines write. ``None`` otherwise: read through delta-rs then.
    """
    if table.protocol().min_reader_version > 1 or table.metadata().partition_columns:
        return None
    paths = [local_path(uri) for uri in table.file_uris()]
    if any("://" in path for path in paths):
        return None
    return paths


def add_dead_letters(uri: str, rows: pa.Table, metadata: Mapping[str, str] | None = None) -> None:
    """Add dead letters not already there (keyed by source, topic, partition, position): reruns add none."""
    table = upgrade_dead_letters(uri)
    if rows.num_rows == 0 and table is not None:
        return
    merge_rows(uri, rows, DEAD_LETTER_SCHEMA, DEAD_LETTER_KEY, update=False, metadata=metadata)


def upgrade_dead_letters(uri: str) -> Any | None:
    """The dead_letter table at ``uri`` (None if there is none yet), with the columns added since older
    tables were written (:data:`~pinpipe.clean.schema.DEAD_LETTER_ADDED`): ``position`` is added and
    filled from ``offset``, which every such row has (only dense-offset logs wrote one before)."""
    from deltalake.schema import Field, PrimitiveType

    table = open_table(uri)
    if table is None:
        return None
    have = {field.name for field in table.schema().fields}
    missing = [name for name in DEAD_LETTER_ADDED if name not in have]
    if missing:
        table.alter.add_columns([Field(name, PrimitiveType("string"), nullable=True) for name in missing])
        table.update(updates={"position": POSITION_OF_OFFSET}, predicate="position IS NULL")
    return table


def replace_table(uri: str, rows: pa.Table, schema: pa.Schema, metadata: Mapping[str, str] | None = None) -> None:
    """Replace the whole table (schema included) in one commit: what insights do each run."""
    from deltalake import write_deltalake

    write_deltalake(
        uri,
        conform(rows, schema),
        mode="overwrite",
        schema_mode="overwrite",
        storage_options=storage_options(uri),
        commit_properties=_commit(metadata),
    )


def read_table(uri: str, columns: Sequence[str] | None = None) -> pa.Table | None:
    """The whole table as Arrow, or ``None`` when it does not exist."""
    table = open_table(uri)
    if table is None:
        return None
    return table.to_pyarrow_table(columns=list(columns) if columns else None)


def run_metadata(job: str, scope: str, run_date: datetime | None = None) -> dict[str, str]:
    """Commit metadata naming the job, what it read and when it ran (insights carry the run date)."""
    when = run_date or datetime.now(tz=UTC)
    return {
        "pinpipe.job": job,
        "pinpipe.scope": scope,
        "pinpipe.run_date": when.date().isoformat(),
        "pinpipe.run_time": when.isoformat(timespec="seconds"),
    }
