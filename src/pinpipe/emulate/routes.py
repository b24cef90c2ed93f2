"""The two wire routes of the gateway contract (DESIGN.md "Gateway HTTP contract"), as pure functions.

Each route turns a batch of rows bound for one topic/stream into one HTTP request, and a 200 response
back into one outcome per record: acknowledged at a position, or rejected (retryable or not). The
bodies and headers are the seed scripts', so a real AWS API Gateway invoke URL works the same as
``pinpipe api``. Keeping this free of I/O lets the partial-failure rules be tested on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote

import orjson

KAFKA_JSON = "application/vnd.kafka.json.v2+json"
JSON = "application/json"

#: Kinesis PutRecords accepts at most this many records per call.
KINESIS_MAX_RECORDS = 500

#: Kafka REST v2 per-record ``error_code`` meaning "retriable" (1 is non-retriable).
_KAFKA_RETRIABLE = 2


class OutRow(NamedTuple):
    """A row on its way out, with the event id it belongs to (downstream dedupes on it).

    Named tuples rather than dataclasses for the per-record types: tens of thousands are made per
    second, and a tuple is about three times cheaper to build than a frozen dataclass.
    """

    ind: int
    row: dict[str, Any]


class Ack(NamedTuple):
    """Where the log put a record: (partition, offset) on Kafka routes, (ShardId, SequenceNumber) on Kinesis."""

    partition: int | str
    offset: int | str


class Rejected(NamedTuple):
    """A record the gateway did not take; ``retryable`` ones are sent again, alone."""

    reason: str
    retryable: bool


Outcome = Ack | Rejected


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    body: bytes
    content_type: str


class ProtocolError(Exception):
    """A 200 whose body does not match the contract: the records' fate is unknown, so they count as failed."""


class Route(Protocol):
    """One transport: the Kafka REST route (``batch``) or the Kinesis route (``stream``)."""

    name: str

    def destination(self, kind: str) -> str:
        """The topic or stream that rows of table ``kind`` go to."""
        ...

    def request(self, destination: str, rows: Sequence[OutRow]) -> Request: ...

    def outcomes(self, rows: Sequence[OutRow], body: bytes) -> list[Outcome]:
        """One outcome per row, in order, from a 200 response body."""
        ...


def _load(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"response is not JSON: {body[:200]!r}") from exc
    if not isinstance(payload, dict):
        raise ProtocolError(f"response is not a JSON object: {body[:200]!r}")
    return payload


def _entries(payload: dict[str, Any], key: str, expected: int) -> list[dict[str, Any]]:
    entries = payload.get(key)
    if not isinstance(entries, list) or len(entries) != expected:
        got = len(entries) if isinstance(entries, list) else "none"
        raise ProtocolError(f"response has {got} {key!r} entries for {expected} records")
    return entries


class KafkaRestRoute:
    """``POST /topics/{topic}`` with ``{"records":[{"value":row}, …]}`` (Kafka REST Proxy v2)."""

    name = "batch"

    def __init__(self, topics: dict[str, str]) -> None:
        self._topics = topics

    def destination(self, kind: str) -> str:
        return self._topics[kind]

    def request(self, destination: str, rows: Sequence[OutRow]) -> Request:
        body = orjson.dumps({"records": [{"value": r.row} for r in rows]})
        return Request("POST", f"/topics/{quote(destination, safe='')}", body, KAFKA_JSON)

    def outcomes(self, rows: Sequence[OutRow], body: bytes) -> list[Outcome]:
        out: list[Outcome] = []
        for entry in _entries(_load(body), "offsets", len(rows)):
            code = entry.get("error_code")
            if code is None:
                out.append(Ack(entry.get("partition", 0), entry["offset"]))
            else:
                reason = f"error_code {code}: {entry.get('error') or 'rejected'}"
                out.append(Rejected(reason, retryable=code == _KAFKA_RETRIABLE))
        return out


class KinesisRoute:
    """``PUT /streams/{stream}/record`` for one row, ``…/records`` for several (Kinesis through API Gateway).

    A PutRecords answer can be a 200 with ``FailedRecordCount`` > 0: the entries carrying ``ErrorCode``
    (throughput exceeded, internal failure) were not written and are retried; the others were, and are
    never sent again.
    """

    name = "stream"

    def __init__(self, streams: dict[str, str]) -> None:
        self._streams = streams

    def destination(self, kind: str) -> str:
        return self._streams[kind]

    def request(self, destination: str, rows: Sequence[OutRow]) -> Request:
        path = f"/streams/{quote(destination, safe='')}"
        if len(rows) == 1:
            row = rows[0]
            body = orjson.dumps({"StreamName": destination, "Data": row.row, "PartitionKey": str(row.ind)})
            return Request("PUT", f"{path}/record", body, JSON)
        records = [{"Data": r.row, "PartitionKey": str(r.ind)} for r in rows]
        body = orjson.dumps({"StreamName": destination, "Records": records})
        return Request("PUT", f"{path}/records", body, JSON)

    def outcomes(self, rows: Sequence[OutRow], body: bytes) -> list[Outcome]:
        payload = _load(body)
        if len(rows) == 1:
            if "SequenceNumber" not in payload:
                raise ProtocolError(f"PutRecord response has no SequenceNumber: {body[:200]!r}")
            return [Ack(payload.get("ShardId", ""), payload["SequenceNumber"])]
        out: list[Outcome] = []
        for entry in _entries(payload, "Records", len(rows)):
            code = entry.get("ErrorCode")
            if code:
                out.append(Rejected(f"{code}: {entry.get('ErrorMessage') or 'not written'}", retryable=True))
            else:
                out.append(Ack(entry.get("ShardId", ""), entry["SequenceNumber"]))
        return out
