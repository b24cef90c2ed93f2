"""The Kinesis event log: AWS Kinesis Data Streams (or anything speaking its API) via boto3.

``kinesis://us-east-1`` names the region. Everything else resolves as boto3 resolves it, nothing is
re-invented: ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_KINESIS``) for a stand-in such as moto or
LocalStack, credentials from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, SSO, or
the instance/task role. Credentials never pass through pinpipe's settings and are never logged.

Mapping onto the log contract:

- A stream is a topic, a shard is a partition: partition ``i`` is the ``i``-th shard id in sorted
  order (``shardId-000000000000`` is partition 0 of a fresh stream). After a reshard the closed parent
  shards keep their numbers, so their records stay readable.
- A record's offset is ``int(SequenceNumber)``: increasing per shard but not dense (on AWS it is a
  ~56-digit number). A "next position" is ``last sequence number + 1`` by convention, and reading from
  position ``P`` asks Kinesis for ``AFTER_SEQUENCE_NUMBER P-1`` (the real last record), so positions
  never need to be real sequence numbers; ``P <= 0`` means the start (``TRIM_HORIZON``).
- ``Record.timestamp_ms`` is ``ApproximateArrivalTimestamp``, set by Kinesis at append.

Appending: ``PutRecords`` in chunks of at most 500 records and 5 MiB. Kinesis reports failures per
record (``FailedRecordCount``, ``ErrorCode``): the failed records alone are sent again with
exponential backoff (so a retried record lands after records of the same batch that went through at
first: readers see shard order, which is sequence-number order). Kinesis has no transactions, so what
still fails is reported exactly, per record: when nothing went in, the whole append fails — only
throttling (``ProvisionedThroughputExceededException``) → :class:`~pinpipe.errors.RetryableError` with
``retry_after`` (the gateway's 429), anything else → :class:`~pinpipe.errors.BackendUnavailableError`
(503); when some records went in, :class:`~pinpipe.log.base.PartlyAppendedError` carries one outcome per
record (where it landed, or its ``ErrorCode``), and the gateway answers as Kinesis itself does — 200
with ``FailedRecordCount`` — so a client sends again only the records that are not in the stream. A
chunk that fails stops the append: the chunks after it are not sent, their records refused with its
cause. Input errors (unknown stream, a closed or missing shard, a record over
1 MiB, a key that is not 1–256 characters of UTF-8) are found before anything is sent. Partition:
explicit ``partition`` → ``ExplicitHashKey`` = that shard's first hash key; else the key is the
``PartitionKey``; else a random ``PartitionKey`` spreads records over the shards.

Consuming: shard iterators, one consumer owning every shard of its streams. Kinesis keeps no group
offsets (the KCL keeps leases and checkpoints in a DynamoDB table), so committed positions go to a
small SQLite file per group, ``<checkpoints_dir>/kinesis-<group>.db`` (positions stored as text:
sequence numbers overflow SQLite's 64-bit integers). Consequences: two consumers of one group read
every record twice (no leases), and a group's checkpoints live on the machine that wrote them.
``lag()`` is 0 or 1 per shard: 0 when the last ``GetRecords`` said ``MillisBehindLatest == 0`` and
returned fewer records than asked for (or the shard is closed and read to its end), else 1 — also 1
before the shard's first poll, since nothing is known yet. ``end_offsets`` must read the whole retained
stream (Kinesis cannot tell the last sequence number otherwise): fine for tests and small streams,
not for a hot path.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from pinpipe.errors import BackendUnavailableError, ConfigError, PinpipeError, RetryableError, ValidationError
from pinpipe.log.base import (
    Appended,
    Closing,
    InvalidPartitionError,
    LogCapabilities,
    OutRecord,
    PartlyAppendedError,
    Record,
    RecordRefused,
    RevokeFn,
    TopicPartition,
    UnknownTopicError,
)
from pinpipe.log.names import validate_name

if TYPE_CHECKING:
    from pinpipe.settings import Settings

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
PUT_ATTEMPTS = 5  # first try + 4 retries of the failed records
PUT_BACKOFF_S = 0.1  # doubled per retry, with jitter: about 1.5 s in all before a batch is given up
GET_RECORDS_LIMIT = 10_000
# Kinesis allows 5 GetRecords per second per shard: an idle poll loop asks each shard this often.
IDLE_POLL_S = 0.2
STREAM_CHANGE_TIMEOUT_S = 120.0
END_SCAN_TIMEOUT_S = 120.0
# Sequence numbers, not counts; a consumer owns every shard of its streams from start to close (an
# expired iterator is renewed where it was, never at the checkpoint). Two consumers of one group would
# both read everything, but no lock keeps them apart: checkpoints are per machine (module docstring).
CAPABILITIES = LogCapabilities(
    dense_offsets=False,
    rebalances=False,
    single_consumer_per_home=False,
    submit=False,
    committed=True,
    counts_committed=True,
)
THROTTLED = {
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "ThrottlingException",
    "KMSThrottlingException",
}


def region_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "kinesis" or not parts.netloc:
        raise ConfigError(f"not a Kinesis URL: {url!r}", hint="use kinesis://<region>, e.g. kinesis://us-east-1")
    return parts.netloc


def translate(exc: Exception, what: str, stream: str | None = None) -> PinpipeError:
    """A boto3/botocore failure as the error the gateway and jobs understand."""
    if isinstance(exc, NoCredentialsError | NoRegionError):
        return ConfigError(
            f"Kinesis could not {what}: {exc}", hint="set AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, a role)"
        )
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        if code == "ResourceNotFoundException" and stream is not None:
            return UnknownTopicError(stream)
        if code in THROTTLED or code == "ResourceInUseException":
            return RetryableError(f"Kinesis could not {what}: {code} {message}".strip(), retry_after=1.0)
        if code in {"ValidationException", "InvalidArgumentException"}:
            return ValidationError(f"Kinesis could not {what}: {message or code}")
        return BackendUnavailableError(f"Kinesis could not {what}: {code} {message}".strip(), retry_after=1.0)
    return BackendUnavailableError(f"Kinesis could not {what}: {exc}", retry_after=1.0)


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard as a partition: its id, where its hash range starts, whether it still takes records."""

    shard_id: str
    starting_hash_key: str
    starting_sequence_number: int
    is_open: bool


def partition_key_of(record: OutRecord, index: int) -> str:
    if record.key is None:
        return uuid.uuid4().hex
    try:
        key = record.key.decode("utf-8")
    except UnicodeDecodeError:
        key = ""
    if not 1 <= len(key) <= 256:
        raise ValidationError(
            f"record {index}: a Kinesis partition key must be 1-256 characters of UTF-8 text",
            hint="send a shorter text key, or no key to spread records over the shards",
        )
    return key


def chunks(entries: Sequence[dict[str, Any]]) -> list[list[int]]:
    """Indexes of ``entries`` grouped into PutRecords calls of <= 500 records and <= 5 MiB."""
    out: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i, entry in enumerate(entries):
        n = len(entry["Data"]) + len(entry["PartitionKey"].encode("utf-8"))
        if current and (len(current) == MAX_RECORDS_PER_CALL or size + n > MAX_BYTES_PER_CALL):
            out.append(current)
            current, size = [], 0
        current.append(i)
        size += n
    if current:
        out.append(current)
    return out


class KinesisLog(Closing):
    """The event log on Kinesis Data Streams; thread-safe (boto3 clients are)."""

    capabilities = CAPABILITIES

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self.region = region_of(url)
        config = Config(
            region_name=self.region,
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=30,
            max_pool_connections=32,
        )
        try:
            self.client = boto3.session.Session().client("kinesis", config=config)
        except (BotoCoreError, ClientError) as exc:
            raise translate(exc, "start a client") from exc
        self._shards: dict[str, list[Shard]] = {}
        self._lock = threading.Lock()

    # -- streams ----------------------------------------------------------------------------

    def shards(self, stream: str, *, refresh: bool = False) -> list[Shard]:
        """The stream's shards, sorted by id: index = partition. Cached until a reshard is noticed."""
        if not refresh:
            cached = self._shards.get(stream)
            if cached is not None:
                return cached
        found: list[Shard] = []
        kwargs: dict[str, Any] = {"StreamName": stream}
        try:
            while True:
                page = self.client.list_shards(**kwargs)
                for shard in page.get("Shards", []):
                    numbers = shard.get("SequenceNumberRange", {})
                    found.append(
                        Shard(
                            shard["ShardId"],
                            shard["HashKeyRange"]["StartingHashKey"],
                            int(numbers.get("StartingSequenceNumber", 0)),
                            "EndingSequenceNumber" not in numbers,
                        )
                    )
                token = page.get("NextToken")
                if not token:
                    break
                kwargs = {"NextToken": token}
        except (BotoCoreError, ClientError) as exc:
            raise translate(exc, f"list the shards of {stream!r}", stream) from exc
        found.sort(key=lambda s: s.shard_id)
        with self._lock:
            self._shards[stream] = found
        return found

    def stream_names(self) -> list[str]:
        names: list[str] = []
        kwargs: dict[str, Any] = {}
        try:
            while True:
                page = self.client.list_streams(**kwargs)
                summaries = page.get("StreamSummaries")
                if summaries is not None:
                    names.extend(s["StreamName"] for s in summaries if s.get("StreamStatus") != "DELETING")
                else:
                    names.extend(page.get("StreamNames", []))
                if not page.get("HasMoreStreams") or not names:
                    break
                kwargs = {"ExclusiveStartStreamName": names[-1]}
        except (BotoCoreError, ClientError) as exc:
            raise translate(exc, "list streams") from exc
        return names

    def topics(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for name in self.stream_names():
            try:
                out[name] = len(self.shards(name, refresh=True))
            except UnknownTopicError:  # deleted between the two calls
                continue
        return out

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        """Create the stream with ``partitions`` shards and wait (bounded) until it is ACTIVE."""
        validate_name(topic, what="stream")
        if partitions < 1:
            raise InvalidPartitionError(f"a stream needs at least 1 shard, not {partitions}")
        try:
            self.client.create_stream(StreamName=topic, ShardCount=partitions)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":  # exists: a no-op
                raise translate(exc, f"create stream {topic!r}") from exc
        except BotoCoreError as exc:
            raise translate(exc, f"create stream {topic!r}") from exc
        self._await(lambda: self._status(topic) == "ACTIVE", f"stream {topic!r} to become ACTIVE")
        with self._lock:
            self._shards.pop(topic, None)

    def delete_topic(self, topic: str) -> None:
        try:
            self.client.delete_stream(StreamName=topic, EnforceConsumerDeletion=True)
        except (BotoCoreError, ClientError) as exc:
            raise translate(exc, f"delete stream {topic!r}", topic) from exc
        with self._lock:
            self._shards.pop(topic, None)
        self._await(lambda: self._status(topic) is None, f"stream {topic!r} to be deleted")

    def _status(self, stream: str) -> str | None:
        try:
            return str(
                self.client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise translate(exc, f"describe stream {stream!r}") from exc
        except BotoCoreError as exc:
            raise translate(exc, f"describe stream {stream!r}") from exc

    def _await(self, done: Any, what: str) -> None:
        """Stream changes take seconds on AWS (immediate on moto): poll, bounded."""
        deadline = time.monotonic() + STREAM_CHANGE_TIMEOUT_S
        while not done():
            if time.monotonic() > deadline:
                raise BackendUnavailableError(f"Kinesis: timed out waiting for {what}", retry_after=5.0)
            time.sleep(0.5)

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Per shard, last sequence number + 1 (a shard without records: its starting sequence number).

        Reads every retained record: Kinesis has no call that returns a shard's last sequence number.
        """
        out: dict[int, int] = {}
        deadline = time.monotonic() + END_SCAN_TIMEOUT_S
        for partition, shard in enumerate(self.shards(topic, refresh=True)):
            reader = _ShardReader(self, TopicPartition(topic, partition), shard.shard_id, None)
            last: int | None = None
            while not reader.finished:
                if time.monotonic() > deadline:
                    raise BackendUnavailableError(f"Kinesis: reading {topic!r} to its end took too long")
                batch = reader.read(GET_RECORDS_LIMIT)
                if batch:
                    last = batch[-1].offset
                elif reader.caught_up:
                    break
            out[partition] = last + 1 if last is not None else shard.starting_sequence_number
        return out

    # -- appending --------------------------------------------------------------------------

    def append(self, topic: str, records: Sequence[OutRecord]) -> list[Appended]:
        """PutRecords in chunks, retrying the records Kinesis failed; see the module docstring."""
        shards = self.shards(topic)
        entries: list[dict[str, Any]] = []
        for i, record in enumerate(records):
            entry: dict[str, Any] = {"Data": record.value, "PartitionKey": partition_key_of(record, i)}
            if record.partition is not None:
                if not 0 <= record.partition < len(shards) or not shards[record.partition].is_open:
                    open_count = sum(s.is_open for s in shards)
                    raise InvalidPartitionError(
                        f"record {i} asks for shard {record.partition} of {topic!r}, which has "
                        f"{len(shards)} shards ({open_count} open)"
                    )
                entry["PartitionKey"] = entry["PartitionKey"] if record.key is not None else f"p{record.partition}"
                entry["ExplicitHashKey"] = shards[record.partition].starting_hash_key
            if len(entry["Data"]) + len(entry["PartitionKey"].encode("utf-8")) > MAX_RECORD_BYTES:
                raise ValidationError(f"record {i} is over Kinesis' 1 MiB limit (data + partition key)")
            entries.append(entry)
        outcomes: list[Appended | RecordRefused | None] = [None] * len(entries)
        error: RetryableError | None = None
        for chunk in chunks(entries):
            try:
                error = self._put_chunk(topic, entries, chunk, outcomes)
            except RetryableError as exc:  # the call itself failed: the records it left are not in the stream
                error = exc
            if error is not None:
                break  # the chunks after it are not sent: their records are refused with the same cause
        if error is None:
            return [o for o in outcomes if isinstance(o, Appended)]
        if not any(isinstance(o, Appended) for o in outcomes):
            raise error  # nothing went in: the whole request failed, exactly
        unavailable = isinstance(error, BackendUnavailableError)  # else throttled: 429, slow down
        code = "InternalFailure" if unavailable else "ProvisionedThroughputExceededException"
        refused = RecordRefused(code, f"not written: {error.message}")
        done = [refused if o is None else o for o in outcomes]
        written = sum(isinstance(o, Appended) for o in done)
        raise PartlyAppendedError(
            f"Kinesis took {written} of {len(done)} records to {topic!r}; {len(done) - written} not written: "
            f"{error.message}",
            done,
            unavailable=unavailable,
            retry_after=error.retry_after,
            hint="send again only the records not written; the others are in the stream",
        )

    def _put_chunk(
        self,
        topic: str,
        entries: list[dict[str, Any]],
        chunk: list[int],
        outcomes: list[Appended | RecordRefused | None],
    ) -> RetryableError | None:
        """Put one chunk, retrying the records Kinesis failed; the error that stopped it, if any (its records
        still failing are refused in ``outcomes`` with their own codes)."""
        pending = chunk
        codes: dict[int, tuple[str, str]] = {}  # record index → (ErrorCode, ErrorMessage) of the last attempt
        for attempt in range(PUT_ATTEMPTS):
            if attempt:
                time.sleep(PUT_BACKOFF_S * 2 ** (attempt - 1) * (0.5 + random.random()))
            try:
                response = self.client.put_records(StreamName=topic, Records=[entries[i] for i in pending])
            except (BotoCoreError, ClientError) as exc:
                raise translate(exc, f"put {len(pending)} records to {topic!r}", topic) from exc
            codes = {}
            for i, outcome in zip(pending, response["Records"], strict=True):
                code = outcome.get("ErrorCode")
                if code:
                    codes[i] = (code, outcome.get("ErrorMessage") or code)
                else:
                    outcomes[i] = self._appended(topic, outcome)
            if not codes:
                return None
            pending = list(codes)
        for i, (code, message) in codes.items():
            outcomes[i] = RecordRefused(code, message)
        failures = Counter(code for code, _ in codes.values())
        detail = ", ".join(f"{n} × {code}" for code, n in sorted(failures.items()))
        message = f"Kinesis refused {len(pending)} records to {topic!r} after {PUT_ATTEMPTS} attempts: {detail}"
        hint = "nothing of this request was written; retrying is safe"
        if set(failures) <= THROTTLED:
            return RetryableError(message, retry_after=1.0, hint=hint)
        return BackendUnavailableError(message, retry_after=1.0, hint=hint)

    def _appended(self, topic: str, outcome: dict[str, Any]) -> Appended:
        return Appended(self.partition_of(topic, outcome["ShardId"]), int(outcome["SequenceNumber"]))

    def partition_of(self, topic: str, shard_id: str) -> int:
        for refresh in (False, True):
            for partition, shard in enumerate(self.shards(topic, refresh=refresh)):
                if shard.shard_id == shard_id:
                    return partition
        raise BackendUnavailableError(f"Kinesis answered with shard {shard_id!r}, which {topic!r} does not list")

    # -- consuming --------------------------------------------------------------------------

    def _checkpoints(self, group: str) -> list[tuple[str, str, int, int]]:
        path = checkpoint_path(self.settings.checkpoints_dir, group)
        if not path.exists():
            return []
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            try:
                columns = {row[1] for row in conn.execute("PRAGMA table_info(checkpoints)")}
                count = "records" if "records" in columns else "0"
                rows = conn.execute(f"SELECT stream, shard_id, position, {count} FROM checkpoints").fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise BackendUnavailableError(f"could not read Kinesis checkpoints in {path}: {exc}") from exc
        return [(stream, shard, int(position), int(records)) for stream, shard, position, records in rows]

    def _by_partition(self, rows: list[tuple[str, str, int]]) -> dict[TopicPartition, int]:
        """(stream, shard id, value) rows keyed by partition; streams or shards that are gone are left out."""
        numbers: dict[str, dict[str, int]] = {}
        out = {}
        for stream, shard, value in rows:
            if stream not in numbers:
                try:
                    numbers[stream] = {sh.shard_id: i for i, sh in enumerate(self.shards(stream))}
                except UnknownTopicError:
                    numbers[stream] = {}
            if shard in numbers[stream]:
                out[TopicPartition(stream, numbers[stream][shard])] = value
        return out

    def committed(self, group: str) -> dict[TopicPartition, int]:
        """The group's checkpoints on this machine (see the module docstring): next positions."""
        return self._by_partition(
            [(stream, shard, position) for stream, shard, position, _ in self._checkpoints(group)]
        )

    def committed_records(self, group: str) -> dict[TopicPartition, int]:
        """How many records the group's commits on this machine have covered, per shard: sequence
        numbers are not counts, so the consumer counts what each commit moves past."""
        rows = self._checkpoints(group)
        return self._by_partition([(stream, shard, records) for stream, shard, _, records in rows])

    def consumer(self, group: str, topics: Sequence[str], *, on_revoke: RevokeFn | None = None) -> KinesisConsumer:
        # no rebalances: a partition never leaves a member, so on_revoke is never called
        validate_name(group, what="consumer group")
        return KinesisConsumer(self, group, topics)

    def close(self) -> None:
        self.client.close()


class _ShardReader:
    """Reads one shard through iterators from a position; renews an expired iterator where it was."""

    def __init__(self, log: KinesisLog, tp: TopicPartition, shard_id: str, position: int | None) -> None:
        self.log = log
        self.tp = tp
        self.shard_id = shard_id
        self.position = position  # next position; None = the start
        self.iterator: str | None = None
        self.finished = False  # a closed shard read to its end
        self.caught_up: bool | None = None  # unknown before the first read
        # Sequence numbers read and not yet covered by a commit: a commit counts those below its
        # position and at or above the last one (records re-read after a seek back count once).
        self.uncommitted: set[int] = set()

    def seek(self, position: int) -> None:
        self.position = position
        self.iterator = None
        self.finished = False
        self.caught_up = None

    def _new_iterator(self) -> str:
        kwargs: dict[str, Any] = {"StreamName": self.tp.topic, "ShardId": self.shard_id}
        if self.position is None or self.position <= 0:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            kwargs["StartingSequenceNumber"] = str(self.position - 1)
        try:
            return str(self.log.client.get_shard_iterator(**kwargs)["ShardIterator"])
        except (BotoCoreError, ClientError) as exc:
            raise translate(exc, f"open shard {self.shard_id} of {self.tp.topic!r}", self.tp.topic) from exc

    def read(self, limit: int) -> list[Record]:
        """One GetRecords call; [] when throttled (the caller polls again later)."""
        if self.finished:
            return []
        if self.iterator is None:
            self.iterator = self._new_iterator()
        try:
            response = self.log.client.get_records(ShardIterator=self.iterator, Limit=limit)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ExpiredIteratorException":
                self.iterator = None
                return []
            if code in THROTTLED:
                return []
            raise translate(exc, f"read shard {self.shard_id} of {self.tp.topic!r}", self.tp.topic) from exc
        except BotoCoreError as exc:
            raise translate(exc, f"read shard {self.shard_id} of {self.tp.topic!r}") from exc
        topic, partition = self.tp.topic, self.tp.partition
        records = [
            Record(
                topic,
                partition,
                int(r["SequenceNumber"]),
                int(r["ApproximateArrivalTimestamp"].timestamp() * 1000),
                r["Data"],
                r["PartitionKey"].encode("utf-8"),
            )
            for r in response.get("Records", [])
        ]
        if records:
            self.position = records[-1].offset + 1
            self.uncommitted.update(r.offset for r in records)
        self.iterator = response.get("NextShardIterator")
        if self.iterator is None:
            self.finished = True
        self.caught_up = self.finished or (response.get("MillisBehindLatest", 0) == 0 and len(records) < limit)
        return records


CHECKPOINTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    stream TEXT NOT NULL,
    shard_id TEXT NOT NULL,
    position TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    records INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stream, shard_id)
)
"""


def _open_checkpoints(path: Path) -> sqlite3.Connection:
    """The group's checkpoint file, created on first use; files from before the ``records`` column
    get it (their count starts at 0: what came before was not counted)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(CHECKPOINTS_SCHEMA)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(checkpoints)")}
    if "records" not in columns:
        conn.execute("ALTER TABLE checkpoints ADD COLUMN records INTEGER NOT NULL DEFAULT 0")
    return conn


def checkpoint_path(checkpoints_dir: Path, group: str) -> Path:
    return Path(checkpoints_dir) / f"kinesis-{group}.db"


class KinesisConsumer(Closing):
    """Reads every shard of its streams from the group's checkpoints (else the start).

    Not thread-safe (one job loop owns it). See the module docstring for the checkpoint store.
    """

    capabilities = CAPABILITIES

    def __init__(self, log: KinesisLog, group: str, topics: Sequence[str]) -> None:
        self.log = log
        self.group = group
        self.path = checkpoint_path(log.settings.checkpoints_dir, group)
        self._conn = _open_checkpoints(self.path)
        saved = {
            (s, sh): (int(p), int(n))
            for s, sh, p, n in self._conn.execute("SELECT stream, shard_id, position, records FROM checkpoints")
        }
        # Per partition: the last committed position and how many records the commits have covered.
        self._counted: dict[TopicPartition, tuple[int, int]] = {}
        self._readers: dict[TopicPartition, _ShardReader] = {}
        for topic in topics:
            for partition, shard in enumerate(log.shards(topic, refresh=True)):
                tp = TopicPartition(topic, partition)
                position, counted = saved.get((topic, shard.shard_id), (0, 0))
                self._readers[tp] = _ShardReader(log, tp, shard.shard_id, position or None)
                self._counted[tp] = (position, counted)
        self._order = sorted(self._readers)
        self._turn = 0
        self._closed = False

    def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Record]:
        deadline = time.monotonic() + timeout_s
        while True:
            out: list[Record] = []
            n = len(self._order)
            for i in range(n):
                if len(out) >= max_records:
                    break
                reader = self._readers[self._order[(self._turn + i) % n]]
                out.extend(reader.read(min(max_records - len(out), GET_RECORDS_LIMIT)))
            self._turn = (self._turn + 1) % max(n, 1)
            remaining = deadline - time.monotonic()
            if out or remaining <= 0 or self._closed:
                return out
            time.sleep(min(IDLE_POLL_S, remaining))

    def commit(self, positions: Mapping[TopicPartition, int]) -> None:
        """Store next positions (last sequence number + 1) in the group's SQLite checkpoint file."""
        for tp in positions:
            if tp not in self._readers:
                raise InvalidPartitionError(f"{tp} is not assigned to this consumer")
        now = time.time_ns() // 1_000_000
        counted: dict[TopicPartition, tuple[int, int]] = {}
        rows = []
        for tp, p in positions.items():
            position = int(p)
            reader = self._readers[tp]
            last, count = self._counted[tp]
            count += sum(1 for offset in reader.uncommitted if last <= offset < position)
            counted[tp] = (max(last, position), count)
            rows.append((tp.topic, reader.shard_id, str(position), now, count))
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO checkpoints (stream, shard_id, position, updated_ms, records) VALUES (?,?,?,?,?) "
                    "ON CONFLICT (stream, shard_id) DO UPDATE SET position = excluded.position, "
                    "updated_ms = excluded.updated_ms, records = excluded.records",
                    rows,
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise BackendUnavailableError(f"could not write Kinesis checkpoints to {self.path}: {exc}") from exc
        self._counted.update(counted)
        for tp, (position, _) in counted.items():
            reader = self._readers[tp]
            reader.uncommitted = {offset for offset in reader.uncommitted if offset >= position}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        reader = self._readers.get(tp)
        if reader is None:
            raise InvalidPartitionError(f"{tp} is not assigned to this consumer")
        reader.seek(offset)

    def assignment(self) -> set[TopicPartition]:
        return set(self._readers)

    def joined(self) -> bool:
        return True  # one member reads every partition: nothing to wait for

    def lag(self) -> dict[TopicPartition, int]:
        return {tp: 0 if reader.caught_up else 1 for tp, reader in self._readers.items()}

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
