"""Atomic appends on Kafka: an append's records are all in the log or none, by Kafka transactions.

Why a pool of producers sharing transactions, measured on Apache Kafka 4.1.1 (one broker, 2 cores,
librdkafka 2.16):

- One single-record transaction costs ~15 ms where an idempotent produce costs ~1.3 ms. Most of it
  is not work: the broker answers a transaction's first AddPartitionsToTxn with
  CONCURRENT_TRANSACTIONS while it still writes the previous transaction's markers, and librdkafka
  retries after a fixed 20 ms (``retry.backoff.ms`` does not change it).
- So appends that arrive while a transaction is open wait for the next one, and every append
  queued by then shares it (up to :data:`MAX_TRANSACTION_RECORDS` records): one transaction's cost is
  paid once for all of them.
- And :data:`PRODUCERS` transactional producers (each its own ``transactional.id``: one producer has
  one open transaction at a time) take turns, so one waits out its markers while another commits:
  4 producers ran 488 single-record transactions/s against 64 for one (each in a loop of its own).
  Through :class:`TransactionalAppends`, 8 threads appending one record each at a time made
  270 appends/s (1.6 appends per transaction); 8 or 16 producers made 210-290/s: the two cores,
  shared with the broker, are the bound there. Batches amortise it: 500-record transactions ran
  ~82k records/s against ~200k idempotent.

What "all or none" rests on: a record is readable only once its transaction commits, by readers at
``isolation.level=read_committed`` (pinpipe's consumers, the Spark source; Kafka Connect and the Java
consumer need it set). A transaction that fails anywhere is aborted and every append in it fails
(503, nothing written). An abort or commit that cannot finish (the brokers are gone) drops the producer;
a new one with the same ``transactional.id`` aborts whatever the old one left open. A gateway that is
killed with a transaction open leaves it to the broker, which aborts it after ``transaction.timeout.ms``;
until then ``read_committed`` readers wait at that transaction's first offset. With a ``transactional.id``
of your own (``PINPIPE_KAFKA__TRANSACTIONAL_ID``, one per gateway process, kept across its restarts) the
restarted gateway aborts it at once instead.

Every committed transaction leaves a marker at one offset in each partition it wrote, and an aborted
record keeps its offset: offsets are no longer dense. The sink writes such offsets as blank lines
(:mod:`pinpipe.sink.buffer`), so a record's offset is still its file's start plus its line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pinpipe.errors import BackendUnavailableError, PinpipeError
from pinpipe.log.base import Appended, OutRecord, UnknownTopicError

logger = logging.getLogger("pinpipe.log.kafka")

#: Transactional producers taking turns (see the module docstring for the measurement).
PRODUCERS = 4
#: Records one transaction may gather from queued appends; a larger append has one to itself.
MAX_TRANSACTION_RECORDS = 10_000
#: How long an abort, or an ``init_transactions``, may take before the producer is given up.
CONTROL_TIMEOUT_S = 5.0


class Delivery:
    """The delivery reports of one append: positions in order, first errors, done when all came."""

    def __init__(self, n: int) -> None:
        self.appended: list[Appended | None] = [None] * n
        self.errors: list[str] = []
        self.unknown_topic = False
        self.remaining = n
        self.done = threading.Event()
        if n == 0:
            self.done.set()

    def report(self, index: int, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            if err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                self.unknown_topic = True
            if len(self.errors) < 5:
                self.errors.append(f"record {index}: {err.str()}")
        else:
            # a delivered message has its partition and offset (confluent-kafka types them optional)
            partition, offset = msg.partition(), msg.offset()
            assert partition is not None and offset is not None
            self.appended[index] = Appended(partition, offset)
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set()


@dataclass
class _Append:
    """One caller's append, waiting for the transaction that carries it."""

    topic: str
    records: Sequence[OutRecord]
    deadline: float
    delivery: Delivery = field(init=False)
    finished: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.delivery = Delivery(len(self.records))

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.finished.set()


class _ProducerLost(Exception):
    """The producer cannot go on (fenced, fatal, or an abort that did not finish): make a new one.

    ``maybe_written``: a commit whose outcome is unknown (it may have landed)."""

    def __init__(self, reason: str, *, maybe_written: bool = False) -> None:
        super().__init__(reason)
        self.maybe_written = maybe_written


@dataclass
class _Worker:
    """One transactional producer's thread, and the batch handed to it while it waited."""

    transactional_id: str
    wake: threading.Event = field(default_factory=threading.Event)
    batch: list[_Append] | None = None


class TransactionalAppends:
    """Appends made atomic, concurrent ones sharing transactions, served by a pool of producers.

    An append goes to the producer that has been idle longest, so the one that just committed (whose
    markers the broker may still be writing: its next transaction would wait 20 ms) is the last choice.
    Appends queue only while every producer is busy; the next one to finish takes them all at once."""

    def __init__(
        self,
        conf: dict[str, Any],
        url: str,
        *,
        id_prefix: str,
        wait_s: float,
        producers: int = PRODUCERS,
    ) -> None:
        self.url = url
        self._conf = conf
        self._wait_s = wait_s
        self._queue: deque[_Append] = deque()
        self._idle: deque[_Worker] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self._pool = [_Worker(f"{id_prefix}-{i}") for i in range(producers)]
        self._threads = [
            threading.Thread(target=self._serve, args=(worker,), name=f"pinpipe-kafka-txn-{i}", daemon=True)
            for i, worker in enumerate(self._pool)
        ]
        self._started = False

    def append(self, topic: str, records: Sequence[OutRecord]) -> Delivery:
        """Queue ``records`` for the next transaction and wait until it committed (or failed)."""
        request = _Append(topic, records, time.monotonic() + self._wait_s)
        with self._lock:
            if self._closed:
                raise BackendUnavailableError("Kafka event log is closed", retry_after=1.0)
            if not self._started:
                self._started = True
                for thread in self._threads:
                    thread.start()
            self._queue.append(request)
            if self._idle:
                worker = self._idle.popleft()
                worker.batch = self._gather()
                worker.wake.set()
        if not request.finished.wait(self._wait_s):
            raise BackendUnavailableError(
                f"Kafka at {self.url}: no transaction committed {len(records)} records to {topic!r} "
                f"within {self._wait_s:.0f}s",
                retry_after=1.0,
                hint="the transaction is aborted unless it already committed; retrying is safe, readers "
                "deduplicate on ind",
            )
        if request.error is not None:
            raise request.error
        return request.delivery

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending, self._queue = list(self._queue), deque()
            for worker in self._idle:
                worker.batch = None
                worker.wake.set()
        for request in pending:
            request.fail(BackendUnavailableError("Kafka event log is closed", retry_after=1.0))
        if self._started:
            for thread in self._threads:
                thread.join()

    # -- the workers ----------------------------------------------------------------------------

    def _gather(self) -> list[_Append]:
        """The queued appends one transaction carries, oldest first (the lock held)."""
        batch = [self._queue.popleft()]
        count = len(batch[0].records)
        while self._queue and count + len(self._queue[0].records) <= MAX_TRANSACTION_RECORDS:
            count += len(self._queue[0].records)
            batch.append(self._queue.popleft())
        return batch

    def _take(self, worker: _Worker) -> list[_Append] | None:
        """The next batch for ``worker``: what queued while every producer was busy, else what an
        append hands it once it is the longest idle; None once closed."""
        with self._lock:
            if self._closed:
                return None
            if self._queue:
                return self._gather()
            worker.wake.clear()
            worker.batch = None
            self._idle.append(worker)
        worker.wake.wait()
        return worker.batch

    def _serve(self, worker: _Worker) -> None:
        producer: Producer | None = None
        try:  # ready before the first batch comes (init_transactions takes ~1 s): a failure retries there
            producer = self._new_producer(worker.transactional_id)
        except _ProducerLost as lost:
            logger.warning("Kafka transactional producer %s: %s", worker.transactional_id, lost)
        while (batch := self._take(worker)) is not None:
            try:
                if producer is None:
                    producer = self._new_producer(worker.transactional_id)
                self._transact(producer, batch)
            except _ProducerLost as lost:
                logger.warning("Kafka transactional producer %s dropped: %s", worker.transactional_id, lost)
                producer = None
                self._fail(batch, f"{lost}", maybe_written=lost.maybe_written)
            except BaseException as exc:  # never leave a caller waiting on a worker that died
                self._fail(batch, f"{exc}", maybe_written=False)
                if not isinstance(exc, Exception):
                    raise

    def _new_producer(self, transactional_id: str) -> Producer:
        try:
            producer = Producer({**self._conf, "transactional.id": transactional_id})
            # also aborts what an earlier producer of this id left open
            producer.init_transactions(CONTROL_TIMEOUT_S)
        except KafkaException as exc:  # a setting librdkafka refuses, or no coordinator in time
            raise _ProducerLost(f"could not start transactions: {_text(exc)}") from exc
        return producer

    def _transact(self, producer: Producer, batch: list[_Append]) -> None:
        try:
            producer.begin_transaction()
            deadline = min(r.deadline for r in batch)
            for request in batch:
                report = request.delivery.report
                for i, record in enumerate(request.records):
                    on_delivery = lambda err, msg, i=i, report=report: report(i, err, msg)  # noqa: E731
                    _produce(producer, request.topic, record, on_delivery, deadline)
            producer.flush(max(0.0, deadline - time.monotonic()))
        except (KafkaException, PinpipeError) as exc:  # PinpipeError: the local queue stayed full
            self._fail(batch, _text(exc) if isinstance(exc, KafkaException) else str(exc), maybe_written=False)
            self._abort(producer)
            return
        undelivered = [r for r in batch if r.delivery.remaining or r.delivery.errors]
        if undelivered or time.monotonic() >= min(r.deadline for r in batch):
            # A record that failed, or a caller that has given up: this transaction never commits, so
            # its callers are answered at once, and the abort (which waits on the brokers: seconds when
            # they are gone) comes after.
            for request in batch:
                if request.delivery.unknown_topic:
                    request.fail(UnknownTopicError(request.topic))
            reasons = "; ".join(e for r in undelivered for e in r.delivery.errors[:1]) or "not delivered in time"
            self._fail(batch, reasons, maybe_written=False)
            self._abort(producer)
            return
        self._commit(producer, batch)
        for request in batch:
            request.finished.set()

    def _commit(self, producer: Producer, batch: list[_Append]) -> None:
        deadline = min(r.deadline for r in batch)
        while True:
            try:
                producer.commit_transaction(max(0.1, deadline - time.monotonic()))
                return
            except KafkaException as exc:
                error = kafka_error(exc)
                if error is not None and error.txn_requires_abort():
                    self._abort(producer)
                    raise _ProducerLost(f"transaction aborted: {error.str()}") from exc
                if error is not None and error.retriable() and time.monotonic() < deadline:
                    continue
                raise _ProducerLost(f"commit did not finish: {_text(exc)}", maybe_written=True) from exc

    def _abort(self, producer: Producer) -> None:
        try:
            producer.abort_transaction(CONTROL_TIMEOUT_S)
        except KafkaException as exc:
            raise _ProducerLost(f"abort did not finish: {_text(exc)}") from exc

    def _fail(self, batch: list[_Append], reason: str, *, maybe_written: bool) -> None:
        hint = (
            "the transaction may have committed; retrying is safe, readers deduplicate on ind"
            if maybe_written
            else "the transaction was aborted: nothing of the request was written; retry"
        )
        for request in batch:
            if not request.finished.is_set():
                request.fail(
                    BackendUnavailableError(
                        f"Kafka at {self.url}: {len(request.records)} records to {request.topic!r} "
                        f"not written: {reason}",
                        retry_after=1.0,
                        hint=hint,
                    )
                )


def produce_kwargs(record: OutRecord, on_delivery: Any) -> dict[str, Any]:
    """``Producer.produce``'s keyword arguments for ``record`` (key and partition only where given)."""
    kwargs: dict[str, Any] = {"on_delivery": on_delivery}
    if record.key is not None:
        kwargs["key"] = record.key
    if record.partition is not None:
        kwargs["partition"] = record.partition
    return kwargs


def _produce(producer: Producer, topic: str, record: OutRecord, on_delivery: Any, deadline: float) -> None:
    kwargs = produce_kwargs(record, on_delivery)
    while True:
        try:
            producer.produce(topic, record.value, **kwargs)
            return
        except BufferError:  # the local queue is full: serve delivery reports (this thread's) to drain it
            if time.monotonic() > deadline:
                raise BackendUnavailableError("the producer queue stayed full", retry_after=1.0) from None
            producer.poll(0.05)


def kafka_error(exc: BaseException) -> KafkaError | None:
    """The ``KafkaError`` a ``KafkaException`` carries, if any."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def _text(exc: KafkaException) -> str:
    error = kafka_error(exc)
    return error.str() if error is not None else str(exc)
