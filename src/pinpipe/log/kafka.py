"""The Kafka event log: any Kafka-protocol broker (Apache Kafka, MSK, Confluent, Redpanda) via confluent-kafka.

``kafka://host:9092[,host2:9092]`` names the bootstrap servers. Every other client setting passes
through from ``settings.kafka`` as librdkafka properties, so security needs no code:

    PINPIPE_KAFKA__SECURITY_PROTOCOL=SASL_SSL
    PINPIPE_KAFKA__SASL_MECHANISM=SCRAM-SHA-512        # or PLAIN (Confluent Cloud), OAUTHBEARER …
    PINPIPE_KAFKA__SASL_USERNAME=pinpipe
    PINPIPE_KAFKA__SASL_PASSWORD=…                     # from the environment or a secret store only
    PINPIPE_KAFKA__SSL_CA_LOCATION=/etc/ssl/certs/ca.pem
    PINPIPE_KAFKA__SESSION_TIMEOUT_MS=10000            # consumer-only: routed to consumers alone

(``_`` becomes ``.`` in the property name.) Consumer-only and producer-only properties go only to the
client that understands them, so librdkafka does not warn about the others. The configuration dict is
never printed or logged (it may hold ``sasl.password``); librdkafka's own log lines go to the Python
logger ``pinpipe.log.kafka``.

Producing — idempotent, ``acks=all``, and by default transactional (``PINPIPE_KAFKA_TRANSACTIONS``):

- ``append`` returns only once its records are durable: with transactions, once the transaction
  carrying them committed (:mod:`pinpipe.log.kafka_transactions`: concurrent appends share one, a
  pool of producers takes turns); without, once every record's delivery report came back without
  error. A failure, or nothing within ``delivery.timeout.ms`` (default here 15 s, librdkafka's is
  300 s, too long for an HTTP request to wait) + 5 s, raises
  :class:`~pinpipe.errors.BackendUnavailableError` (the gateway answers 503). The idempotent producer
  keeps each partition's records in order and never writes a retried record twice.
- With transactions an append is all or nothing, also when a broker or the gateway dies mid-request:
  a failed transaction is aborted, and ``read_committed`` readers (every consumer here: the setting is
  forced) never see its records. The cost: every transaction leaves a commit marker at one offset of
  each partition it wrote, so offsets are not dense (the lake writes a blank line for such an offset,
  DESIGN.md's "start offset + line" rule still holds), and a gateway killed with a transaction open
  holds readers at it until the broker aborts it (``transaction.timeout.ms``, 20 s here; at once with a
  ``transactional.id`` of your own that the restarted gateway reuses). Without transactions
  (``PINPIPE_KAFKA_TRANSACTIONS=false``) a batch whose delivery fails part-way can leave some of its
  records in the log while the client gets a 503 and retries; every downstream reader deduplicates on
  ``ind`` (DESIGN.md "Cleaning"), so those are duplicates, never losses. Either way input errors
  (unknown topic, a partition the topic lacks) are checked before anything is produced.
- Measured on Tansu (2 cores, 8 threads appending at once): single-record appends 7.3k-10.4k/s with
  ``linger.ms=0`` (the default here) vs 1.3k/s with librdkafka's 5 ms (every append waits out the
  linger); 500-record appends ~200k records/s with 0 vs 240k-280k with 5 ms. Set
  ``PINPIPE_KAFKA__LINGER_MS=5`` when big batches matter more than request latency. One thread serves
  all delivery reports, so an append wakes the moment its last report arrives. The first append of a
  process takes ~1 s on Tansu (the idempotent producer's id handshake).
- Partition: the record's explicit ``partition``; else by key with ``murmur2_random`` (the Java
  client's partitioner, so a key lands where Kafka Connect or a Java producer would put it); else
  librdkafka spreads keyless records (sticky batches).
- Timestamps: the producer leaves the timestamp to librdkafka, which stamps CreateTime = the client's
  wall clock at ``append``. On a topic configured ``message.timestamp.type=LogAppendTime`` (Tansu
  ignores that setting; Apache Kafka honours it) the broker's append time is read back instead.
  ``Record.timestamp_ms`` is whatever the message carries, in UTC milliseconds.

Consuming: real consumer groups (``group.id``, ``enable.auto.commit=false``,
``auto.offset.reset=earliest``), synchronous commits, ``lag`` from the high watermarks. On Apache
Kafka 4.1 (the reference, tested) a member joins in ~0.3 s on librdkafka's defaults; a member that
dies without leaving holds its partitions until ``session.timeout.ms`` (45 s by default) expires it,
so set ``PINPIPE_KAFKA__SESSION_TIMEOUT_MS`` lower where workers are killed rather than stopped.
``group.protocol=consumer`` (KIP-848) is refused: the classic protocol runs everywhere, KIP-848 does
not yet (Tansu 0.6.0 never delivers with it).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Message,
    Producer,
)
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from pinpipe.errors import BackendUnavailableError, ConfigError
from pinpipe.log.base import (
    Appended,
    Closing,
    GroupJoinTimeoutError,
    InvalidPartitionError,
    LogCapabilities,
    OutRecord,
    Record,
    RevokeFn,
    TopicPartition,
    UnknownTopicError,
)
from pinpipe.log.kafka_transactions import Delivery, TransactionalAppends, kafka_error, produce_kwargs
from pinpipe.log.names import validate_name

if TYPE_CHECKING:
    from pinpipe.settings import Settings

logger = logging.getLogger(__name__)

# Offsets count records and markers (see above: an end minus a commit is still a lag); the group
# coordinator moves partitions between members inside ``poll``, and shares them, so no lock is needed;
# appends block until durable.
CAPABILITIES = LogCapabilities(
    dense_offsets=True,
    skips_offsets=True,  # with transactions, ours or another producer's
    rebalances=True,
    single_consumer_per_home=False,
    submit=False,
    committed=True,
)

# Properties only one kind of client understands; everything else (security, client.id, socket
# settings) goes to every client. librdkafka warns about properties of the other kind.
CONSUMER_ONLY = (
    "group.",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.offset.reset",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "enable.auto.offset.store",
    "isolation.level",
    "fetch.",
    "queued.",
    "partition.assignment.strategy",
    "enable.partition.eof",
    "check.crcs",
    "coordinator.query.interval.ms",
)
PRODUCER_ONLY = (
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "transactional.id",
    "transaction.timeout.ms",
    "delivery.timeout.ms",
    "message.timeout.ms",
    "linger.ms",
    "queue.buffering.",
    "batch.",
    "compression.",
    "partitioner",
    "retries",
    "message.send.max.retries",
    "retry.backoff.ms",
    "request.timeout.ms",
    "sticky.partitioning.linger.ms",
    "enable.gapless.guarantee",
)

DEFAULT_DELIVERY_TIMEOUT_MS = 15_000
METADATA_TIMEOUT_S = 10.0
# librdkafka's defaults, for the join deadline when the user set neither.
DEFAULT_SESSION_TIMEOUT_MS = 45_000
DEFAULT_MAX_POLL_INTERVAL_MS = 300_000
# How long create/delete wait for the broker's metadata to show the change.
METADATA_AGREEMENT = 4  # consecutive metadata reads that must show a topic change
TOPIC_CHANGE_TIMEOUT_S = 30.0


def bootstrap_servers(url: str) -> str:
    """``kafka://h1:9092,h2:9092`` → ``h1:9092,h2:9092``."""
    parts = urlsplit(url)
    if parts.scheme != "kafka" or not parts.netloc:
        raise ConfigError(f"not a Kafka URL: {url!r}", hint="use kafka://host:9092[,host2:9092]")
    if "@" in parts.netloc:
        raise ConfigError(
            "credentials do not belong in the Kafka URL",
            hint="set PINPIPE_KAFKA__SASL_USERNAME and PINPIPE_KAFKA__SASL_PASSWORD",
        )
    return parts.netloc


FETCH_QUEUE_BACKOFF_MS = 50


def client_configs(url: str, passthrough: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Producer, consumer and admin configs: our required settings over the user's passthrough.

    The user's properties come first so they can tune defaults (timeouts, linger), but not the
    settings the log's guarantees rest on (idempotence, ``acks=all``, manual commits).
    """
    if passthrough.get("group.protocol", "classic").lower() == "consumer":
        raise ConfigError(
            "group.protocol=consumer is not supported by pinpipe's Kafka log",
            hint="remove PINPIPE_KAFKA__GROUP_PROTOCOL (the classic protocol is used)",
        )
    common: dict[str, Any] = {"bootstrap.servers": bootstrap_servers(url), "logger": logger}
    # linger.ms 0: an append waits for its own delivery, so lingering only adds latency; records of
    # concurrent appends still share requests while earlier ones are in flight (see the docstring).
    producer: dict[str, Any] = {
        "delivery.timeout.ms": DEFAULT_DELIVERY_TIMEOUT_MS,
        "partitioner": "murmur2_random",
        "linger.ms": 0,
    }
    # fetch.queue.backoff.ms: librdkafka pauses a partition's fetching this long once its local queue is
    # over queued.min.messages; its default of 1000 ms starved the sink, which empties that queue in
    # far less: 50 ms drained a 500k-record backlog at ~290k records/s against ~135k (docs/PERFORMANCE.md,
    # "Lake sink vs Kafka Connect").
    consumer: dict[str, Any] = {"fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS}
    admin: dict[str, Any] = {}
    for key, value in passthrough.items():
        if key.startswith(CONSUMER_ONLY):
            consumer[key] = value
        elif key.startswith(PRODUCER_ONLY):
            producer[key] = value
        else:
            common[key] = value
    if str(consumer.get("isolation.level", "read_committed")) != "read_committed":
        raise ConfigError(
            "isolation.level must be read_committed for pinpipe's Kafka log (aborted appends would be read)",
            hint="remove PINPIPE_KAFKA__ISOLATION_LEVEL",
        )
    producer.update({"enable.idempotence": True, "acks": "all", "allow.auto.create.topics": False})
    # The contract: a group without a committed position starts at the earliest record, and reads only
    # what committed (librdkafka's default, stated: the atomicity of appends rests on it).
    consumer.update(
        {
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "allow.auto.create.topics": False,
            "isolation.level": "read_committed",
        }
    )
    return {**common, **producer}, {**common, **consumer}, {**common, **admin}


def rebalance_bound_s(consumer_conf: Mapping[str, Any]) -> float:
    """How long a member may wait for its share: the group's own bound on a rebalance."""
    session_ms = int(consumer_conf.get("session.timeout.ms", DEFAULT_SESSION_TIMEOUT_MS))
    return (session_ms + int(consumer_conf.get("max.poll.interval.ms", DEFAULT_MAX_POLL_INTERVAL_MS))) / 1000


def _unavailable(what: str, url: str, error: object) -> BackendUnavailableError:
    """``error`` in librdkafka's own words (its text, not the ``KafkaError{code=…}`` repr)."""
    if isinstance(error, KafkaException):
        error = kafka_error(error) or error
    if isinstance(error, KafkaError):
        error = error.str()
    return BackendUnavailableError(
        f"Kafka at {url} could not {what}: {error}",
        retry_after=1.0,
        hint="check the broker is up and PINPIPE_LOG_URL / PINPIPE_KAFKA__* settings",
    )


def list_watermarks(
    admin: AdminClient, tps: Sequence[TopicPartition], url: str
) -> dict[TopicPartition, tuple[int, int]]:
    """(low, high) watermarks of every partition in ``tps`` from one batch of ListOffsets requests
    through the admin client. The high watermark, not the last stable offset: the LSO trails a
    transaction for a moment after it commits (until its markers are written), so a reader that caught
    up with it could stop short of records a 200 already acknowledged. Not the consumer's
    ``get_watermark_offsets``: that is one request per partition on the member's own connections, queued
    behind its fetch long-polls (~1 s each: 36 partitions made a drain with nothing to do take 34 s)."""
    if not tps:
        return {}
    parts = [KafkaTopicPartition(tp.topic, tp.partition) for tp in tps]
    try:
        earliest = admin.list_offsets({p: OffsetSpec.earliest() for p in parts}, request_timeout=METADATA_TIMEOUT_S)
        latest = admin.list_offsets(
            {p: OffsetSpec.latest() for p in parts},
            isolation_level=IsolationLevel.READ_UNCOMMITTED,
            request_timeout=METADATA_TIMEOUT_S,
        )
        low = {(p.topic, p.partition): int(f.result().offset) for p, f in earliest.items()}
        high = {(p.topic, p.partition): int(f.result().offset) for p, f in latest.items()}
    except KafkaException as exc:
        raise _unavailable("read the ends of its partitions", url, exc) from exc
    return {tp: (low[tp.topic, tp.partition], high[tp.topic, tp.partition]) for tp in tps}


class KafkaLog(Closing):
    """The event log on a Kafka-protocol broker; thread-safe (the gateway appends from a threadpool)."""

    capabilities = CAPABILITIES

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self._producer_conf, self._consumer_conf, admin_conf = client_configs(url, dict(settings.kafka))
        self._admin = AdminClient(admin_conf)
        self._producer: Producer | None = None
        self._transactions: TransactionalAppends | None = None
        id_prefix = self._producer_conf.pop("transactional.id", None) or f"pinpipe-{uuid.uuid4().hex[:12]}"
        if settings.kafka_transactions:
            delivery_ms = int(self._producer_conf["delivery.timeout.ms"])
            conf = {"transaction.timeout.ms": delivery_ms + 5_000, **self._producer_conf}
            self._transactions = TransactionalAppends(conf, url, id_prefix=id_prefix, wait_s=delivery_ms / 1000 + 5.0)
        self._poller: threading.Thread | None = None
        self._partitions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- metadata ---------------------------------------------------------------------------

    def topics(self) -> dict[str, int]:
        try:
            metadata = self._admin.list_topics(timeout=METADATA_TIMEOUT_S)
        except KafkaException as exc:
            raise _unavailable("list topics", self.url, exc) from exc
        found = {
            name: len(meta.partitions)
            for name, meta in metadata.topics.items()
            if meta.error is None and not name.startswith("__")
        }
        with self._lock:
            self._partitions = dict(found)
        return found

    def _partition_count(self, topic: str) -> int:
        """Partitions of ``topic`` from a cache, refreshed on a miss (a new topic, another process's)."""
        count = self._partitions.get(topic)
        if count is None:
            count = self.topics().get(topic)
            if count is None:
                raise UnknownTopicError(topic)
        return count

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        validate_name(topic)
        if partitions < 1:
            raise InvalidPartitionError(f"a topic needs at least 1 partition, not {partitions}")
        if topic in self.topics():
            return
        # -1: the broker's default.replication.factor (3 on MSK, 1 on a single broker).
        replicas = self.settings.replication_factor or -1
        futures = self._admin.create_topics([NewTopic(topic, partitions, replicas)], request_timeout=METADATA_TIMEOUT_S)
        try:
            futures[topic].result()
        except KafkaException as exc:
            error = kafka_error(exc)
            if error is not None and error.code() == KafkaError.INVALID_REPLICATION_FACTOR:
                raise ConfigError(
                    f"Kafka at {self.url} cannot create topic {topic!r} with {replicas} replicas: {error.str()}",
                    hint="set PINPIPE_REPLICATION_FACTOR to at most the number of brokers, or unset it",
                ) from exc
            if error is None or error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise _unavailable(f"create topic {topic!r}", self.url, exc) from exc
        self._await_metadata(lambda found: found.get(topic) is not None, f"topic {topic!r} to appear")

    def delete_topic(self, topic: str) -> None:
        if topic not in self.topics():
            raise UnknownTopicError(topic)
        futures = self._admin.delete_topics([topic], request_timeout=METADATA_TIMEOUT_S)
        try:
            futures[topic].result()
        except KafkaException as exc:
            error = kafka_error(exc)
            if error is None or error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise _unavailable(f"delete topic {topic!r}", self.url, exc) from exc
        self._await_metadata(lambda found: topic not in found, f"topic {topic!r} to go")

    def _await_metadata(self, done: Any, what: str) -> None:
        """Topic changes reach every broker's metadata a little later: wait, bounded, so a produce
        right after ``create_topic`` does not meet 'unknown topic'.

        Each metadata read may be answered by another broker, and on a cluster one broker can show the
        change before the others replay it: the change counts once :data:`METADATA_AGREEMENT` reads in
        a row (0.05 s apart) show it."""
        deadline = time.monotonic() + TOPIC_CHANGE_TIMEOUT_S
        agreed = 0
        while (agreed := agreed + 1 if done(self.topics()) else 0) < METADATA_AGREEMENT:
            if time.monotonic() > deadline:
                raise BackendUnavailableError(f"Kafka at {self.url}: timed out waiting for {what}", retry_after=1.0)
            time.sleep(0.05)

    def end_offsets(self, topic: str) -> dict[int, int]:
        """The high watermarks (ListOffsets ``latest``): the offset the next record would get. With
        transactions, one more once a transaction's marker lands after its records."""
        ends = self.watermarks([TopicPartition(topic, p) for p in range(self._partition_count(topic))])
        return {tp.partition: high for tp, (_, high) in ends.items()}

    def watermarks(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, tuple[int, int]]:
        """(low, high) watermarks of ``tps``, asked in one batch (:func:`list_watermarks`)."""
        if self._closed:
            raise BackendUnavailableError("Kafka event log is closed", retry_after=1.0)
        return list_watermarks(self._admin, tps, self.url)

    def committed(self, group: str) -> dict[TopicPartition, int]:
        """The group's committed offsets from the group coordinator (OffsetFetch through the admin
        client): read from outside the group, so asking never joins it or moves its partitions. A
        group that never committed has none (an empty dict)."""
        futures = self._admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=METADATA_TIMEOUT_S
        )
        try:
            answer = futures[group].result()
        except KafkaException as exc:
            error = kafka_error(exc)
            if error is not None and error.code() == KafkaError.GROUP_ID_NOT_FOUND:
                return {}
            raise _unavailable(f"read the committed offsets of group {group!r}", self.url, exc) from exc
        return {
            TopicPartition(tp.topic, tp.partition): int(tp.offset)
            for tp in answer.topic_partitions or []
            if tp.offset >= 0 and tp.error is None
        }

    # -- producing --------------------------------------------------------------------------

    def _producer_client(self) -> Producer:
        with self._lock:
            if self._closed:
                raise BackendUnavailableError("Kafka event log is closed", retry_after=1.0)
            if self._producer is None:
                self._producer = Producer(self._producer_conf)
                self._poller = threading.Thread(
                    target=self._serve_deliveries, args=(self._producer,), name="pinpipe-kafka-deliveries", daemon=True
                )
                self._poller.start()
            return self._producer

    def _serve_deliveries(self, producer: Producer) -> None:
        """One thread serves every delivery report, so each waiting ``append`` wakes the moment its
        last report arrives. (Appenders polling for themselves measured ~10x slower for single-record
        appends from 8 threads: a thread whose poll served another's report left that one asleep.)"""
        while not self._closed:
            producer.poll(0.1)

    def append(self, topic: str, records: Sequence[OutRecord]) -> list[Appended]:
        """Produce ``records`` and wait for every delivery report; see the module docstring."""
        count = self._partition_count(topic)
        for i, record in enumerate(records):
            if record.partition is not None and not 0 <= record.partition < count:
                raise InvalidPartitionError(
                    f"record {i} asks for partition {record.partition} of {topic!r}, which has {count}"
                )
        if self._transactions is not None:
            try:
                return self._appended(topic, records, self._transactions.append(topic, records))
            except UnknownTopicError:
                with self._lock:
                    self._partitions.pop(topic, None)
                raise
        producer = self._producer_client()
        delivery = Delivery(len(records))
        for i, record in enumerate(records):
            self._produce(producer, topic, record, lambda err, msg, i=i: delivery.report(i, err, msg))
        timeout_s = float(self._producer_conf["delivery.timeout.ms"]) / 1000 + 5.0
        if not delivery.done.wait(timeout_s):
            raise BackendUnavailableError(
                f"Kafka at {self.url}: {delivery.remaining} of {len(records)} records to {topic!r} "
                f"unacknowledged after {timeout_s:.0f}s",
                retry_after=1.0,
            )
        return self._appended(topic, records, delivery)

    def _appended(self, topic: str, records: Sequence[OutRecord], delivery: Delivery) -> list[Appended]:
        if delivery.unknown_topic:
            with self._lock:
                self._partitions.pop(topic, None)
            raise UnknownTopicError(topic)
        if delivery.errors:
            raise BackendUnavailableError(
                f"Kafka at {self.url}: {len(records) - sum(a is not None for a in delivery.appended)} of "
                f"{len(records)} records to {topic!r} failed ({'; '.join(delivery.errors)})",
                retry_after=1.0,
                hint="the batch may be partly written; retrying is safe, readers deduplicate on ind",
            )
        return [a for a in delivery.appended if a is not None]

    def _produce(self, producer: Producer, topic: str, record: OutRecord, on_delivery: Any) -> None:
        kwargs = produce_kwargs(record, on_delivery)
        deadline = time.monotonic() + float(self._producer_conf["delivery.timeout.ms"]) / 1000
        while True:
            try:
                producer.produce(topic, record.value, **kwargs)
                return
            except BufferError:  # the local queue is full: let deliveries drain it, bounded
                if time.monotonic() > deadline:
                    raise BackendUnavailableError(
                        f"Kafka at {self.url}: the producer queue stayed full", retry_after=1.0
                    ) from None
                time.sleep(0.01)  # the delivery thread drains the queue
            except KafkaException as exc:
                raise _unavailable(f"produce to {topic!r}", self.url, exc) from exc

    # -- consuming --------------------------------------------------------------------------

    def consumer(self, group: str, topics: Sequence[str], *, on_revoke: RevokeFn | None = None) -> KafkaConsumer:
        known = self.topics()
        missing = [t for t in topics if t not in known]
        if missing:
            raise UnknownTopicError(missing[0])
        return KafkaConsumer(self, group, topics, on_revoke=on_revoke)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            producer, self._producer = self._producer, None
        if self._transactions is not None:
            self._transactions.close()
        if producer is not None:
            producer.flush(float(self._producer_conf["delivery.timeout.ms"]) / 1000)
            if self._poller is not None:
                self._poller.join()


class KafkaConsumer(Closing):
    """A member of a Kafka consumer group; partitions arrive (and leave) with rebalances.

    Not thread-safe (one job loop owns it). Positions are tracked here, not asked of librdkafka,
    because its ``position()`` is unset between a seek and the next message.

    Joining is bounded: a member still without its share ``join_timeout_s`` after subscribing or
    after a revocation gets :class:`GroupJoinTimeoutError` from :meth:`poll`. The default is the
    group's own bound (``session.timeout.ms`` + ``max.poll.interval.ms``, the rebalance timeout):
    a coordinator that has not finished a rebalance by then will not finish it by being waited on.
    Seen on Tansu 0.6.0, whose coordinator keeps a leader that left mid-rebalance, so every later
    member waits for a SyncGroup that never comes (docs/RELIABILITY.md).
    """

    capabilities = CAPABILITIES

    def __init__(
        self,
        log: KafkaLog,
        group: str,
        topics: Sequence[str],
        *,
        join_timeout_s: float | None = None,
        on_revoke: RevokeFn | None = None,
    ) -> None:
        self.log = log
        self.group = group
        self.on_revoke = on_revoke
        self._callback_error: BaseException | None = None
        self.join_timeout_s = join_timeout_s if join_timeout_s is not None else rebalance_bound_s(log._consumer_conf)
        self._joined = False
        self._waiting_since = time.monotonic()
        self._consumer = Consumer({**log._consumer_conf, "group.id": group})
        self._assigned: set[TopicPartition] = set()
        self._positions: dict[TopicPartition, int] = {}
        self._pending_seeks: dict[TopicPartition, int] = {}
        self._closed = False
        # Cooperative assignors hand partitions over incrementally; the eager default swaps them all.
        strategy = str(log._consumer_conf.get("partition.assignment.strategy", ""))
        self._cooperative = "cooperative" in strategy
        self._consumer.subscribe(list(topics), on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        """Apply seeks asked for before the partition arrived: ``seek`` fails on a partition whose
        fetch has not started, so the offset goes into the assignment itself."""
        self._joined = True  # also with no partitions: librdkafka calls this with an empty list
        for part in partitions:
            tp = TopicPartition(part.topic, part.partition)
            self._assigned.add(tp)
            if tp in self._pending_seeks:
                part.offset = self._pending_seeks.pop(tp)
                self._positions[tp] = part.offset
        if self._cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        """librdkafka calls this inside ``poll`` before the member rejoins, so no other member has the
        partitions yet: the owner's hook settles (and commits) what it holds for them first."""
        if self.on_revoke is not None and partitions:
            try:
                self.on_revoke({TopicPartition(p.topic, p.partition) for p in partitions})
            except BaseException as exc:  # raised from poll: an exception escaping a callback taints the client
                self._callback_error = exc
        self._joined = False
        self._waiting_since = time.monotonic()
        for part in partitions:
            tp = TopicPartition(part.topic, part.partition)
            self._assigned.discard(tp)
            self._positions.pop(tp, None)
        if self._cooperative:
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()

    def poll(self, max_records: int = 1000, timeout_s: float = 1.0) -> list[Record]:
        # consume(n, t) waits for n messages or t seconds: wait for the first one only, then take
        # whatever is already fetched, so a trickle is returned at once.
        messages: list[Message] = []
        try:
            first = self._consumer.poll(timeout_s)
            if first is not None:
                messages.append(first)
                if max_records > 1:
                    messages.extend(self._consumer.consume(max_records - 1, timeout=0))
        except KafkaException as exc:
            raise _unavailable("poll", self.log.url, exc) from exc
        if self._callback_error is not None:
            failed, self._callback_error = self._callback_error, None
            raise failed
        if not self._joined and not messages:
            waited = time.monotonic() - self._waiting_since
            if waited > self.join_timeout_s:
                raise GroupJoinTimeoutError(
                    f"Kafka at {self.log.url}: consumer group {self.group!r} gave this member no partitions "
                    f"in {waited:.0f} s (session.timeout.ms + max.poll.interval.ms): its rebalance never completed",
                    retry_after=1.0,
                    hint="retry; if it persists the broker's group coordinator is stuck (seen on Tansu 0.6.0: a "
                    "group whose leader left mid-rebalance never re-forms; docs/RELIABILITY.md)",
                )
        # the per-message loop is the sink's hot path on Kafka: positions are kept per partition once
        # per poll, not per message
        records: list[Record] = []
        append = records.append
        last: dict[tuple[str, int], int] = {}
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                if error.fatal() or error.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                    raise _unavailable("poll", self.log.url, error.str())
                logger.warning("Kafka consumer %s: %s", self.group, error.str())
                continue
            topic, partition, offset, value = msg.topic(), msg.partition(), msg.offset(), msg.value()
            # a consumed message (not an error event) has all four (confluent-kafka types them optional)
            assert topic is not None and partition is not None and offset is not None and value is not None
            append(Record(topic, partition, offset, msg.timestamp()[1], value, msg.key()))
            last[topic, partition] = offset
        for (topic, partition), offset in last.items():
            self._positions[TopicPartition(topic, partition)] = offset + 1
        return records

    def _read_past(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """librdkafka's own positions, where set: past the offsets that held no record for this reader
        (a transaction's commit marker, an aborted record), which no message ever reports. Unset
        between a seek and the fetch that follows it, and advanced only as messages are handed over, so
        it never runs ahead of a record this member has not returned."""
        if not tps:
            return {}
        try:
            parts = self._consumer.position([KafkaTopicPartition(tp.topic, tp.partition) for tp in tps])
        except KafkaException:
            return {}
        return {TopicPartition(p.topic, p.partition): int(p.offset) for p in parts if p.offset >= 0 and p.error is None}

    def commit(self, positions: Mapping[TopicPartition, int]) -> None:
        """Commit ``positions``; where one is this member's whole read of its partition, commit past the
        offsets after it that hold no record, so a drained group's lag is 0 on a transactional topic."""
        if not positions:
            return
        positions = dict(positions)
        caught_up = [tp for tp, o in positions.items() if o >= self._positions.get(tp, o + 1)]
        for tp, past in self._read_past(caught_up).items():
            if past > positions[tp]:
                positions[tp] = self._positions[tp] = past
        offsets = [KafkaTopicPartition(tp.topic, tp.partition, int(o)) for tp, o in positions.items()]
        try:
            results = self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            raise _unavailable("commit", self.log.url, exc) from exc
        failed = [f"{r.topic}[{r.partition}]: {r.error}" for r in results or [] if r.error is not None]
        if failed:
            raise _unavailable("commit", self.log.url, "; ".join(failed))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Seek now if ``tp`` is assigned, else when the group hands it over (in ``_on_assign``)."""
        if offset < 0:
            raise InvalidPartitionError(f"cannot seek {tp} to a negative offset ({offset})")
        if tp not in self._assigned:
            self._pending_seeks[tp] = offset
            return
        try:
            self._consumer.seek(KafkaTopicPartition(tp.topic, tp.partition, offset))
        except KafkaException:
            # Assigned but its fetch has not started yet: restate the assignment with the offset.
            self._consumer.assign(
                [
                    KafkaTopicPartition(p.topic, p.partition, offset if p == tp else self._positions.get(p, -1001))
                    for p in sorted(self._assigned)
                ]
            )
        self._positions[tp] = offset

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    def joined(self) -> bool:
        return self._joined

    def lag(self) -> dict[TopicPartition, int]:
        """High watermark minus this member's position (its committed offset, else the start, when it
        has read nothing yet from the partition), past offsets that held no record. A transaction still
        open (or whose markers are not written yet) keeps it above 0: a drain waits for its outcome."""
        assigned = sorted(self._assigned)
        # The committed offsets through the admin client too (one OffsetFetch for the group).
        committed = self.log.committed(self.group) if any(tp not in self._positions for tp in assigned) else {}
        read_past = self._read_past(assigned)
        out: dict[TopicPartition, int] = {}
        for tp, (low, high) in self.log.watermarks(assigned).items():
            position = max(self._positions.get(tp, committed.get(tp, low)), read_past.get(tp, -1))
            out[tp] = max(high - position, 0)
        return out

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._consumer.close()
