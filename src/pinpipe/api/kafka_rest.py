"""Kafka REST Proxy v2 routes (the seed's batch route): produce to a topic, list and describe topics.

The seed's client sends ``{"records": [{"value": row}]}`` with ``application/vnd.kafka.json.v2+json``;
the answer carries one ``{partition, offset}`` per record, in order, once all are durable.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from pinpipe.api.appending import append_each
from pinpipe.api.body import KAFKA_JSON_TYPES, checked_name, read_json, value_bytes
from pinpipe.api.deps import ApiKeyGuard, LogDep, MetricsDep
from pinpipe.api.errors import TOPIC_NOT_FOUND, ApiError
from pinpipe.api.models import ErrorBody, ProduceRequest, ProduceResponse, TopicInfo, TopicPartitionInfo
from pinpipe.log.base import Appended, OutRecord, RecordRefused

KAFKA_V2 = "application/vnd.kafka.v2+json"
#: The REST Proxy's per-record ``error_code`` for a record the producer failed and may send again.
RETRIABLE = 2

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 415, 422, 429, 503)
}


class KafkaRestRoutes:
    """The router of the Kafka REST Proxy v2 subset; one instance per app."""

    def __init__(self) -> None:
        self.router = APIRouter(tags=["Kafka REST Proxy v2"], dependencies=[ApiKeyGuard], responses=ERRORS)
        self.router.add_api_route(
            "/topics/{topic:path}",
            self.produce,
            methods=["POST"],
            response_model=ProduceResponse,
            summary="Produce records to a topic",
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {
                        t: {"schema": ProduceRequest.model_json_schema(ref_template="#/components/schemas/{model}")}
                        for t in sorted(KAFKA_JSON_TYPES)
                    },
                }
            },
        )
        self.router.add_api_route(
            "/topics", self.list_topics, methods=["GET"], response_model=list[str], summary="List topics"
        )
        self.router.add_api_route(
            "/topics/{topic:path}",
            self.describe_topic,
            methods=["GET"],
            response_model=TopicInfo,
            summary="Describe a topic",
        )

    @staticmethod
    async def produce(topic: str, request: Request, log: LogDep, metrics: MetricsDep) -> Response:
        """Append the body's records; a 200 means each offset it gives is durable.

        On a log whose appends are all or nothing (embedded, Kafka) that is every record. A log that
        took only some (Kinesis) answers the others with ``error_code`` 2 (retriable) and no offset,
        as the REST Proxy answers a record its producer failed.
        """
        name = checked_name(topic, "topic")
        with request.app.state.budget.hold(request):
            records = parse_produce(await read_json(request, KAFKA_JSON_TYPES))
            outcomes = await append_each(log, name, records)
        metrics.accepted("topic", name, sum(isinstance(o, Appended) for o in outcomes))
        body = {"key_schema_id": None, "value_schema_id": None, "offsets": [offset_entry(o) for o in outcomes]}
        return Response(orjson.dumps(body), media_type=KAFKA_V2)

    @staticmethod
    async def list_topics(log: LogDep) -> Response:
        topics = await run_in_threadpool(log.topics)
        return Response(orjson.dumps(sorted(topics)), media_type=KAFKA_V2)

    @staticmethod
    async def describe_topic(topic: str, log: LogDep) -> TopicInfo:
        name = checked_name(topic, "topic")
        topics = await run_in_threadpool(log.topics)
        if name not in topics:
            raise ApiError(404, f"topic {name!r} not found", error_code=TOPIC_NOT_FOUND)
        return TopicInfo(name=name, partitions=[TopicPartitionInfo(partition=p) for p in range(topics[name])])


def offset_entry(outcome: Appended | RecordRefused) -> dict[str, Any]:
    if isinstance(outcome, Appended):
        return {"partition": outcome.partition, "offset": outcome.offset, "error_code": None, "error": None}
    error = f"{outcome.error_code}: {outcome.message}"
    return {"partition": None, "offset": None, "error_code": RETRIABLE, "error": error}


def parse_produce(body: Any) -> list[OutRecord]:
    """``{"records": [{"value": …, "key"?: …, "partition"?: int}, …]}`` → records (422 otherwise)."""
    if not isinstance(body, dict) or "records" not in body:
        raise ApiError(422, 'body must be {"records": [{"value": <row>}, …]}: the row is not wrapped in records')
    items = body["records"]
    if not isinstance(items, list):
        raise ApiError(422, '"records" must be a list of {"value": <row>} objects')
    out: list[OutRecord] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "value" not in item:
            raise ApiError(422, f'records[{i}] must be an object with a "value" (the row is not wrapped in value)')
        key = item.get("key")
        partition = item.get("partition")
        if partition is not None and (type(partition) is not int or partition < 0):
            raise ApiError(422, f"records[{i}].partition must be a non-negative integer, not {partition!r}")
        out.append(
            OutRecord(
                value_bytes(item["value"], f"records[{i}].value"),
                None if key is None else value_bytes(key, f"records[{i}].key"),
                partition,
            )
        )
    return out
