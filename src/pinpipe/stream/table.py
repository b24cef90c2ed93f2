"""One Delta table the stream job appends to, with its exactly-once bookkeeping and upkeep.

Why append + an in-memory set of ``ind`` instead of MERGE: a MERGE per micro-batch scans the table
and falls behind as it grows (TOOLING.md: 106 → 466 ms per batch at 1M rows). The set is rebuilt from
the table's ``ind`` column at start-up (0.1-0.7 s per 1M ids) and only ever grows after a commit
returned, so it always equals the table's content.

Upkeep: delta-rs commit time grows with the number of files in the snapshot (measured here: 7 → 36 ms
over 600 one-batch appends; a checkpoint alone does not help, compaction does: back to 15 ms). So
every ``compact_every`` appends the small files are compacted, and a checkpoint is written every
``checkpoint_every`` commits so a restart (or any reader) loads the log quickly.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from pinpipe.stream.positions import PositionCodec, StaleBatchError, Stored, check_fresh

COMMIT_ATTEMPTS = 3


@dataclass
class Upkeep:
    """When to checkpoint and compact (in commits)."""

    checkpoint_every: int = 100
    compact_every: int = 200


class DeltaSink:
    """A Delta table written only through :meth:`commit`: rows and app transactions, atomically."""

    def __init__(
        self,
        uri: str,
        schema: pa.Schema,
        codec: PositionCodec,
        *,
        key: str | None = "ind",
        storage_options: dict[str, str] | None = None,
        upkeep: Upkeep | None = None,
    ) -> None:
        self.uri = uri
        self.schema = schema
        self.codec = codec
        self.key = key
        self.storage_options = storage_options
        self.upkeep = upkeep or Upkeep()
        self.table = DeltaTable.create(uri, schema, mode="ignore", storage_options=storage_options)
        self.table = DeltaTable(uri, storage_options=storage_options)
        # What this job believes the table stores per app id: set at start-up, moved by commits.
        self.expected: dict[str, Stored | None] = {}
        self.keys: set[int] = set()
        self.commits = 0
        self._appends_since_compact = 0
        if key is not None:
            self.keys = self._load_keys()

    def _load_keys(self) -> set[int]:
        column = self.table.to_pyarrow_dataset().to_table(columns=[self.key])[self.key]
        return {k for k in column.to_pylist() if k is not None}

    def _lookup(self, app: str) -> int | None:
        return self.table.transaction_version(app)

    def stored(self, app: str) -> Stored | None:
        """What the table's current snapshot says about ``app`` (and remember it as expected)."""
        position = self.codec.read(app, self._lookup)
        self.expected[app] = position
        return position

    def commit(self, rows: pa.Table, spans: dict[str, tuple[int, int]]) -> float:
        """Append ``rows`` with one app transaction set per app id in ``spans`` ({app: (first, last)}).

        App ids are per stream partition for the Python engine (:func:`~.positions.app_id`) and per
        query for Spark (the batch id is the offset).

        Checks each partition against the stored position first (deltalake would take a stale
        version silently). Returns the commit's wall time in seconds.
        """
        plan: list[tuple[str, Stored]] = []
        transactions: list[Transaction] = []
        for app, (first, last) in sorted(spans.items()):
            expected = self.expected.get(app)
            check_fresh(app, first, self.codec.read(app, self._lookup), expected)
            transactions.extend(self.codec.transactions(app, last, expected))
            version = last if self.codec.dense else (0 if expected is None else expected.version + 1)
            plan.append((app, Stored(offset=last, version=version)))
        if rows.schema != self.schema:
            rows = rows.select(self.schema.names).cast(self.schema)
        started = time.perf_counter()
        self._write(rows, transactions, plan)
        elapsed = time.perf_counter() - started
        for app, position in plan:
            self.expected[app] = position
        if self.key is not None and rows.num_rows:
            self.keys.update(rows[self.key].to_pylist())
        self.commits += 1
        if rows.num_rows:
            self._appends_since_compact += 1
        self._maintain()
        return elapsed

    def _write(self, rows: pa.Table, transactions: list[Transaction], plan: Sequence[tuple[str, Stored]]) -> None:
        """Write once; on an error, find out from the table whether the commit landed before retrying."""
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                write_deltalake(
                    self.table,
                    rows,
                    mode="append",
                    commit_properties=CommitProperties(app_transactions=transactions),
                )
                return
            except Exception as exc:
                self.table.update_incremental()
                landed = [self.codec.read(app, self._lookup) for app, _ in plan]
                if landed == [position for _, position in plan]:
                    return  # the commit happened; only its answer was lost
                if landed != [self.expected.get(app) for app, _ in plan]:
                    raise StaleBatchError(
                        f"{self.uri}: another writer committed for the same partitions ({exc})",
                        hint="run only one stream job per warehouse",
                    ) from exc
                if attempt == COMMIT_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)

    def _maintain(self) -> None:
        """Compact small files and write checkpoints so commit and load times stay flat."""
        upkeep = self.upkeep
        if upkeep.compact_every and self._appends_since_compact >= upkeep.compact_every:
            self.table.optimize.compact()
            self._appends_since_compact = 0
            self.table.create_checkpoint()
        elif upkeep.checkpoint_every and self.commits % upkeep.checkpoint_every == 0:
            self.table.create_checkpoint()

    def version(self) -> int:
        return self.table.version()
