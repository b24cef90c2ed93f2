"""The embedded event log: one SQLite file in WAL mode, durable before ``append`` returns.

Why SQLite: it gives a crash-safe, multi-process log with nothing to install. The costly part of a
durable append is the fsync, so appends go through **group commit**: callers from any number of
threads (the gateway's threadpool) hand their batch to one writer thread and block on a future; the
writer takes everything queued, writes it in ONE transaction with ONE fsync (``synchronous=FULL``),
then completes every future. A future completes only after COMMIT returned, so a 200 from the
gateway always means the records are on disk.

Layout (one file, ``log.db``):

- ``topics(id, name, partitions, created_ms)``
- ``partitions(id, topic_id, partition, next_offset)``: ``next_offset`` is read and advanced inside
  the writing transaction (``BEGIN IMMEDIATE``), so offsets stay dense and unique even when several
  processes append (``pinpipe api --workers N``).
- ``records(pid, offset, ts, key, value)``, primary key ``(pid, offset)``.
- ``group_offsets(grp, topic, partition, next_offset)``: committed consumer-group positions.

Readers (the sink and the stream job, usually other processes) open their own connections and
commit their group positions in short transactions; ``busy_timeout`` makes them wait for the
writer's transaction instead of failing with ``SQLITE_BUSY``.

Retention (``log_retention_hours``): records older than the retention are deleted by the writer
thread (when it starts and then every few minutes while appending), except records that a consumer
group which has committed on that partition has not yet read past. Unlike Kafka, a slow sink never
loses data; a group that never committed does not hold records back.

One consumer per group (``capabilities.single_consumer_per_home``): every consumer of the embedded log
reads every partition, so two members of one group would both process everything (two sinks would
write the same files, cut at different moments). :meth:`EmbeddedLog.hold_group` takes an exclusive
``flock`` on ``log.db.<group>.lock`` next to ``log.db``, so the second one stops with a clear message;
the kernel releases it when the holder dies, even by SIGKILL, so a restart after a crash never finds a
stale lock.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import queue
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pinpipe.errors import BackendUnavailableError, ConfigError, RetryableError
from pinpipe.log.base import (
    Appended,
    Closing,
    GroupInUseError,
    InvalidPartitionError,
    LogCapabilities,
    OutRecord,
    Record,
    RevokeFn,
    TopicPartition,
    UnknownTopicError,
)
from pinpipe.log.names import validate_name
from pinpipe.process import PidLockHeld, take_pid_lock

if TYPE_CHECKING:
    from pinpipe.settings import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    partitions INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS partitions (
    id INTEGER PRIMARY KEY,
    topic_id INTEGER NOT NULL REFERENCES topics(id),
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL DEFAULT 0,
    UNIQUE (topic_id, partition)
);
CREATE TABLE IF NOT EXISTS records (
    pid INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    PRIMARY KEY (pid, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
"""

BUSY_TIMEOUT_MS = 30_000
# Records per group-commit transaction: large enough to amortise the fsync, small enough that one
# transaction never holds the write lock (and the readers' commits) for long.
MAX_RECORDS_PER_COMMIT = 20_000
# Backpressure: when this many records wait for the writer, ``append`` raises RetryableError
# (the gateway answers 429 with Retry-After) instead of queueing without bound.
MAX_PENDING_RECORDS = 500_000
RETENTION_CHECK_S = 300.0
# Writes go through one writer thread (submit), positions are readable from the file (committed), and
# one member reads every partition for its whole life, so a group is held to one consumer by a lock.
CAPABILITIES = LogCapabilities(
    dense_offsets=True,
    rebalances=False,
    single_consumer_per_home=True,
    submit=True,
    committed=True,
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def db_path(url: str) -> Path:
    """``sqlite:///abs/path/log.db`` (or ``sqlite:///rel/path``) → a filesystem path."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        raise ConfigError(f"not an embedded log URL: {url!r}", hint="use sqlite:///path/to/log.db")
    raw = unquote(parts.path)
    if parts.netloc:  # sqlite://host/... is not meaningful for a file
        raise ConfigError(f"embedded log URL must not name a host: {url!r}", hint="use sqlite:///path/to/log.db")
    # sqlite:///abs → path "/abs"; sqlite:////abs (SQLAlchemy's absolute form) → "//abs"
    if raw.startswith("//"):
        raw = raw[1:]
    if not raw or raw == "/":
        raise ConfigError(f"embedded log URL names no file: {url!r}", hint="use sqlite:///path/to/log.db")
    return Path(raw)


@contextlib.contextmanager
def group_lock(path: Path, group: str, *, role: str, url: str) -> Iterator[Path]:
    """Hold the exclusive ``flock`` at ``path`` with this process's pid in it, else raise at once."""
    try:
        fd = take_pid_lock(path)
    except PidLockHeld as held:
        raise GroupInUseError(
            f"another {role} of group {group!r} is running on {url} (pid {held.holder})",
            hint=f"the embedded log has no consumer groups to share: run one {role}, or use Kafka to scale out",
        ) from None
    try:
        yield path
    finally:
        os.close(fd)  # releases the lock


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit BEGINs), WAL, full fsync, waiting on locks."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


# Rows per INSERT statement, largest first: a handful of fixed statement texts (so the sqlite3 module's
# statement cache keeps them) cover any batch.
INSERT_CHUNKS = (512, 64, 8, 1)


@functools.cache
def _insert_sql(rows: int) -> str:
    return "INSERT INTO records (pid, offset, ts, key, value) VALUES " + ",".join(["(?,?,?,?,?)"] * rows)


def insert_rows(conn: sqlite3.Connection, rows: Sequence[tuple[int, int, int, bytes | None, bytes]]) -> None:
    """Insert with many rows per statement rather than ``executemany``'s one per step.

    Each step releases and retakes the GIL. One row per step meant thousands of hand-overs per commit
    to the gateway's event-loop thread, and while that thread was busy (a backlog of requests to parse)
    each hand-over could wait out the interpreter's 5 ms switch interval: the writer slowed exactly
    when it had the most to write, and a 150 ms stall grew into a 10-20 s episode of high latency.
    """
    i = 0
    for size in INSERT_CHUNKS:
        sql = _insert_sql(size)
        while len(rows) - i >= size:
            conn.execute(sql, [value for row in rows[i : i + size] for value in row])
            i += size


def partition_for_key(key: bytes, partitions: int) -> int:
    """Stable across processes and runs (Python's ``hash`` is salted, so CRC32 instead)."""
    return zlib.crc32(key) % partitions


def _unavailable(exc: sqlite3.Error, what: str) -> BackendUnavailableError:
    return BackendUnavailableError(
        f"embedded event log: {what} failed: {exc}",
        retry_after=1.0,
        hint="check the disk under PINPIPE_HOME and that no other program holds log.db locked",
    )


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back on any error.

    IMMEDIATE takes the write lock up front, so a waiting connection is handled by ``busy_timeout``
    instead of failing on a read-to-write upgrade.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


@dataclass
class _Pending:
    """One ``append`` call waiting for the writer."""

    topic: str
    records: Sequence[OutRecord]
    future: Future[list[Appended]] = field(default_factory=Future)


class EmbeddedLog(Closing):
    """The :class:`~pinpipe.log.base.EventLog` in one SQLite file (``sqlite:///…/log.db``)."""

    capabilities = CAPABILITIES

    def __init__(self, url: str, settings: Settings | None = None) -> None:
        self.url = url
        self.path = db_path(url)
        self.retention_ms: int | None = None
        # no settings (a test's or tool's own log): records are kept until the file goes
        if settings is not None and settings.log_retention_hours:
            self.retention_ms = int(settings.log_retention_hours * 3_600_000)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = connect(self.path)
            self._conn.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailableError(
                f"cannot open the embedded event log at {str(self.path)!r}: {exc}",
                hint="check that PINPIPE_HOME is writable",
            ) from exc
        self._conn_lock = threading.Lock()  # guards self._conn (admin and metadata calls)
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._pending_records = 0
        self._pending_lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._closed = False
        self._spread = itertools.count()
        self.commits = 0  # group-commit transactions so far (for tests and metrics)
        self.max_pending_records = MAX_PENDING_RECORDS
        # Notified after each commit so same-process consumers wake at once (others poll).
        self.appended = threading.Condition()

    # ------------------------------------------------------------------ producing

    def append(self, topic: str, records: Sequence[OutRecord]) -> list[Appended]:
        """Append all or nothing; returns once the records are durable (group commit)."""
        return self.submit(topic, records).result()

    def submit(self, topic: str, records: Sequence[OutRecord]) -> Future[list[Appended]]:
        """Queue an append for the writer without blocking; the future completes once it is durable.

        The gateway awaits this future on its event loop (``asyncio.wrap_future``) instead of
        parking a threadpool thread per request in :meth:`append`.
        """
        if self._closed:
            raise BackendUnavailableError("embedded event log is closed", retry_after=1.0)
        if not records:
            # Still report an unknown topic, as a non-empty append would.
            if topic not in self.topics():
                raise UnknownTopicError(topic)
            done: Future[list[Appended]] = Future()
            done.set_result([])
            return done
        count = len(records)
        pending = _Pending(topic, records)
        self._ensure_writer()
        with self._pending_lock:  # also orders us before close()'s stop marker
            if self._closed:
                raise BackendUnavailableError("embedded event log is closed", retry_after=1.0)
            if self._pending_records + count > self.max_pending_records and self._pending_records:
                raise RetryableError(
                    f"embedded event log overloaded: {self._pending_records} records waiting for the disk",
                    retry_after=1.0,
                )
            self._pending_records += count
            self._queue.put(pending)
        return pending.future

    def _ensure_writer(self) -> None:
        if self._writer is not None:
            return
        with self._writer_lock:
            if self._writer is None:
                writer = threading.Thread(target=self._write_loop, name="pinpipe-log-writer", daemon=True)
                writer.start()
                self._writer = writer

    def _write_loop(self) -> None:
        """The group-commit writer: batch whatever is queued into one transaction, repeat."""
        try:
            conn = connect(self.path)
        except sqlite3.Error as exc:
            conn = None
            failure = _unavailable(exc, "open for writing")
        next_retention = 0.0
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                size = len(first.records)
                stop = False
                while size < MAX_RECORDS_PER_COMMIT:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
                    size += len(item.records)
                if conn is None:
                    for item in batch:
                        item.future.set_exception(failure)
                else:
                    self._commit_batch(conn, batch)
                with self._pending_lock:
                    self._pending_records -= size
                if conn is not None and self.retention_ms and time.monotonic() >= next_retention:
                    next_retention = time.monotonic() + RETENTION_CHECK_S
                    with contextlib.suppress(sqlite3.Error):
                        self._purge(conn, _now_ms())
                if stop:
                    return
        finally:
            if conn is not None:
                conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Pending]) -> None:
        """One transaction for many appends; each append still succeeds or fails as a whole."""
        results: list[tuple[_Pending, list[Appended] | BaseException]] = []
        try:
            with write_transaction(conn):
                ts = _now_ms()
                meta: dict[str, list[list[int]] | None] = {}  # topic → [[pid, next_offset], …] per partition
                rows: list[tuple[int, int, int, bytes | None, bytes]] = []
                for item in batch:
                    if item.topic not in meta:
                        meta[item.topic] = self._load_partitions(conn, item.topic)
                    parts = meta[item.topic]
                    if parts is None:
                        results.append((item, UnknownTopicError(item.topic)))
                        continue
                    try:
                        results.append((item, self._place(item, parts, ts, rows)))
                    except InvalidPartitionError as exc:
                        results.append((item, exc))
                insert_rows(conn, rows)
                conn.executemany(
                    "UPDATE partitions SET next_offset=? WHERE id=?",
                    [(nxt, pid) for parts in meta.values() if parts for pid, nxt in parts],
                )
            self.commits += 1
        except sqlite3.Error as exc:
            error = _unavailable(exc, "append")
            for item in batch:
                item.future.set_exception(error)
            return
        except Exception as exc:  # a bug must neither block callers forever nor stop the writer
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        for item, outcome in results:
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
        with self.appended:
            self.appended.notify_all()

    @staticmethod
    def _load_partitions(conn: sqlite3.Connection, topic: str) -> list[list[int]] | None:
        rows = conn.execute(
            "SELECT p.id, p.next_offset FROM partitions p JOIN topics t ON t.id = p.topic_id "
            "WHERE t.name = ? ORDER BY p.partition",
            (topic,),
        ).fetchall()
        return [list(r) for r in rows] or None

    def _place(
        self,
        item: _Pending,
        parts: list[list[int]],
        ts: int,
        rows: list[tuple[int, int, int, bytes | None, bytes]],
    ) -> list[Appended]:
        """Choose partitions and offsets for one append; validates before changing anything."""
        n = len(parts)
        # Without key or partition: the whole append goes to one partition (Kafka's sticky
        # partitioner), rotating between appends, so a batch stays together and in order.
        sticky = next(self._spread) % n
        chosen: list[int] = []
        for rec in item.records:
            if rec.partition is not None:
                if not 0 <= rec.partition < n:
                    raise InvalidPartitionError(
                        f"topic {item.topic!r} has {n} partition(s); partition {rec.partition} does not exist"
                    )
                chosen.append(rec.partition)
            elif rec.key is not None:
                chosen.append(partition_for_key(rec.key, n))
            else:
                chosen.append(sticky)
        out: list[Appended] = []
        append_row = rows.append
        append_out = out.append
        for rec, p in zip(item.records, chosen, strict=True):
            slot = parts[p]
            offset = slot[1]
            slot[1] = offset + 1
            append_row((slot[0], offset, ts, rec.key, rec.value))
            append_out(Appended(p, offset))
        return out

    # ------------------------------------------------------------------ admin

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        if self._closed:
            raise BackendUnavailableError("embedded event log is closed", retry_after=1.0)
        try:
            with self._conn_lock:
                return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _unavailable(exc, "read") from exc

    def _write(self, statements: Sequence[tuple[str, Sequence[Any]]], what: str = "write") -> None:
        if self._closed:
            raise BackendUnavailableError("embedded event log is closed", retry_after=1.0)
        try:
            with self._conn_lock, write_transaction(self._conn) as conn:
                for sql, args in statements:
                    conn.execute(sql, args)
        except sqlite3.Error as exc:
            raise _unavailable(exc, what) from exc

    def topics(self) -> dict[str, int]:
        return dict(self._read("SELECT name, partitions FROM topics ORDER BY name"))

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        validate_name(topic)
        if partitions < 1:
            raise InvalidPartitionError(f"a topic needs at least 1 partition, not {partitions}")
        if self._closed:
            raise BackendUnavailableError("embedded event log is closed", retry_after=1.0)
        try:
            with self._conn_lock, write_transaction(self._conn) as conn:
                if conn.execute("SELECT 1 FROM topics WHERE name=?", (topic,)).fetchone() is None:
                    cur = conn.execute(
                        "INSERT INTO topics (name, partitions, created_ms) VALUES (?,?,?)",
                        (topic, partitions, _now_ms()),
                    )
                    conn.executemany(
                        "INSERT INTO partitions (topic_id, partition) VALUES (?,?)",
                        [(cur.lastrowid, p) for p in range(partitions)],
                    )
        except sqlite3.Error as exc:
            raise _unavailable(exc, "create topic") from exc

    def delete_topic(self, topic: str) -> None:
        """Delete the topic, its records and its committed group positions."""
        if topic not in self.topics():
            raise UnknownTopicError(topic)
        sub = "SELECT p.id FROM partitions p JOIN topics t ON t.id = p.topic_id WHERE t.name = ?"
        self._write(
            [
                (f"DELETE FROM records WHERE pid IN ({sub})", (topic,)),
                ("DELETE FROM partitions WHERE topic_id = (SELECT id FROM topics WHERE name = ?)", (topic,)),
                ("DELETE FROM topics WHERE name = ?", (topic,)),
                ("DELETE FROM group_offsets WHERE topic = ?", (topic,)),
            ],
            "delete topic",
        )

    def end_offsets(self, topic: str) -> dict[int, int]:
        rows = self._read(
            "SELECT p.partition, p.next_offset FROM partitions p JOIN topics t ON t.id = p.topic_id "
            "WHERE t.name = ? ORDER BY p.partition",
            (topic,),
        )
        if not rows:
            raise UnknownTopicError(topic)
        return dict(rows)

    def start_offsets(self, topic: str) -> dict[int, int]:
        """Per partition, the earliest offset still stored (after retention); ``end`` when empty."""
        ends = self.end_offsets(topic)
        rows = self._read(
            "SELECT p.partition, (SELECT MIN(r.offset) FROM records r WHERE r.pid = p.id) "
            "FROM partitions p JOIN topics t ON t.id = p.topic_id WHERE t.name = ?",
            (topic,),
        )
        return {p: (lo if lo is not None else ends[p]) for p, lo in rows}

    def committed(self, group: str) -> dict[TopicPartition, int]:
        """The positions ``group`` has committed."""
        rows = self._read("SELECT topic, partition, next_offset FROM group_offsets WHERE grp = ?", (group,))
        return {TopicPartition(t, p): o for t, p, o in rows}

    def consumer(self, group: str, topics: Sequence[str], *, on_revoke: RevokeFn | None = None) -> EmbeddedConsumer:
        # no rebalances: a partition never leaves a member, so on_revoke is never called
        return EmbeddedConsumer(self, group, topics)

    def hold_group(self, group: str, role: str = "consumer") -> contextlib.AbstractContextManager[Path]:
        """Keep ``group`` to this process while the block runs (see the module docstring)."""
        return group_lock(self.path.with_name(f"{self.path.name}.{group}.lock"), group, role=role, url=self.url)

    # ------------------------------------------------------------------ retention

    def purge_expired(self, now_ms: int | None = None) -> int:
        """Apply retention now (the writer also does it periodically); returns records deleted."""
        if not self.retention_ms:
            return 0
        with self._conn_lock:
            try:
                return self._purge(self._conn, _now_ms() if now_ms is None else now_ms)
            except sqlite3.Error as exc:
                raise _unavailable(exc, "retention") from exc

    def _purge(self, conn: sqlite3.Connection, now_ms: int) -> int:
        assert self.retention_ms
        cutoff = now_ms - self.retention_ms
        deleted = 0
        parts = conn.execute(
            "SELECT p.id, t.name, p.partition, p.next_offset FROM partitions p JOIN topics t ON t.id = p.topic_id"
        ).fetchall()
        for pid, topic, partition, next_offset in parts:
            with write_transaction(conn):
                # Offsets grow with append time, so the first record young enough bounds the purge.
                row = conn.execute(
                    "SELECT offset FROM records WHERE pid = ? AND ts >= ? ORDER BY offset LIMIT 1", (pid, cutoff)
                ).fetchone()
                limit = row[0] if row else next_offset
                held = conn.execute(
                    "SELECT MIN(next_offset) FROM group_offsets WHERE topic = ? AND partition = ?",
                    (topic, partition),
                ).fetchone()[0]
                if held is not None:
                    limit = min(limit, held)
                cur = conn.execute("DELETE FROM records WHERE pid = ? AND offset < ?", (pid, limit))
                deleted += max(cur.rowcount, 0)
        return deleted

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Finish every queued append (all acknowledged data is durable), then close."""
        with self._pending_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        writer = self._writer
        if writer is not None:
            writer.join()
        with self._conn_lock:
            self._conn.close()


class EmbeddedConsumer(Closing):
    """A consumer-group member of the embedded log: one member gets every partition of its topics.

    It reads through its own connection, so consumers in other processes read while the gateway
    writes. Positions start at the group's committed offsets, else at the earliest record.
    """

    capabilities = CAPABILITIES

    def __init__(self, log: EmbeddedLog, group: str, topics: Sequence[str]) -> None:
        self.log = log
        self.group = group
        self._closed = False
        known = log.topics()
        missing = [t for t in topics if t not in known]
        if missing:
            raise UnknownTopicError(missing[0])
        self._pids: dict[TopicPartition, int] = {}
        try:
            self._conn = connect(log.path)
            for topic in topics:
                for pid, partition in self._conn.execute(
                    "SELECT p.id, p.partition FROM partitions p JOIN topics t ON t.id = p.topic_id "
                    "WHERE t.name = ? ORDER BY p.partition",
                    (topic,),
                ):
                    self._pids[TopicPartition(topic, partition)] = pid
            committed = {
                TopicPartition(t, p): o
                for t, p, o in self._conn.execute(
                    "SELECT topic, partition, next_offset FROM group_offsets WHERE grp = ?", (group,)
                )
            }
        except sqlite3.Error as exc:
            raise _unavailable(exc, "consumer start") from exc
        self._positions: dict[TopicPartition, int] = {tp: committed.get(tp, 0) for tp in self._pids}
        self._order = sorted(self._pids)
        self._turn = 0

    def assignment(self) -> set[TopicPartition]:
        return set(self._pids)

    def joined(self) -> bool:
        return True  # one member reads every partition: nothing to wait for

    def position(self, tp: TopicPartition) -> int:
        """The offset of the next record ``poll`` will return for ``tp``."""
        return self._positions[tp]

    def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Record]:
        deadline = time.monotonic() + timeout_s
        while True:
            records = self._fetch(max_records)
            if records or self._closed:
                return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            # Same-process appends wake us at once; another process's appends are seen within 50 ms.
            with self.log.appended:
                self.log.appended.wait(min(remaining, 0.05))

    def _fetch(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        n = len(self._order)
        try:
            self._conn.execute("BEGIN")  # one snapshot for all partitions
            try:
                for i in range(n):
                    if len(out) >= max_records:
                        break
                    tp = self._order[(self._turn + i) % n]
                    rows = self._conn.execute(
                        "SELECT offset, ts, key, value FROM records WHERE pid = ? AND offset >= ? "
                        "ORDER BY offset LIMIT ?",
                        (self._pids[tp], self._positions[tp], max_records - len(out)),
                    ).fetchall()
                    if rows:
                        topic, partition = tp.topic, tp.partition
                        out.extend(Record(topic, partition, o, ts, v, k) for o, ts, k, v in rows)
                        self._positions[tp] = rows[-1][0] + 1
            finally:
                self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _unavailable(exc, "poll") from exc
        self._turn = (self._turn + 1) % max(n, 1)
        return out

    def commit(self, positions: Mapping[TopicPartition, int]) -> None:
        for tp in positions:
            if tp not in self._pids:
                raise InvalidPartitionError(f"{tp} is not assigned to this consumer")
        now = _now_ms()
        try:
            with write_transaction(self._conn) as conn:
                conn.executemany(
                    "INSERT INTO group_offsets (grp, topic, partition, next_offset, updated_ms) VALUES (?,?,?,?,?) "
                    "ON CONFLICT (grp, topic, partition) DO UPDATE SET "
                    "next_offset = excluded.next_offset, updated_ms = excluded.updated_ms",
                    [(self.group, tp.topic, tp.partition, int(o), now) for tp, o in positions.items()],
                )
        except sqlite3.Error as exc:
            raise _unavailable(exc, "commit") from exc

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if tp not in self._pids:
            raise InvalidPartitionError(f"{tp} is not assigned to this consumer")
        if offset < 0:
            raise InvalidPartitionError(f"cannot seek {tp} to a negative offset ({offset})")
        self._positions[tp] = offset

    def lag(self) -> dict[TopicPartition, int]:
        try:
            rows = self._conn.execute("SELECT id, next_offset FROM partitions").fetchall()
        except sqlite3.Error as exc:
            raise _unavailable(exc, "lag") from exc
        ends = dict(rows)
        return {tp: max(ends.get(pid, 0) - self._positions[tp], 0) for tp, pid in self._pids.items()}

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.close()
