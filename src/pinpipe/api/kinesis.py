"""Kinesis-through-API-Gateway routes (the seed's stream route): streams and PutRecord(s).

As in the seed's API Gateway integration, the stream comes from the path and ``Data`` is the row
itself (stored as its JSON); a string ``Data`` is taken as base64 bytes, as Kinesis takes it.
``SequenceNumber`` is the log offset as a string; ``ShardId`` is ``shardId-<partition:012d>``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from pinpipe.api.appending import append, append_each
from pinpipe.api.body import KINESIS_TYPES, check_record_size, checked_name, read_json, value_bytes
from pinpipe.api.deps import ApiKeyGuard, MetricsDep, SettingsDep, StreamLogDep
from pinpipe.api.errors import TOPIC_NOT_FOUND, ApiError
from pinpipe.api.models import (
    CreateStreamRequest,
    ErrorBody,
    PutRecordRequest,
    PutRecordResponse,
    PutRecordsRequest,
    PutRecordsResponse,
    Shard,
    StreamDeleted,
    StreamDescription,
    StreamDescriptionBody,
    StreamList,
)
from pinpipe.log.base import Appended, EventLog, OutRecord, RecordRefused

MAX_PARTITION_KEY = 256

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 415, 422, 429, 503)
}


def shard_id(partition: int) -> str:
    return f"shardId-{partition:012d}"


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {t: {"schema": schema} for t in sorted(KINESIS_TYPES)}}}


class KinesisRoutes:
    """The router of the Kinesis subset; one instance per app."""

    def __init__(self) -> None:
        r = self.router = APIRouter(tags=["Kinesis via API Gateway"], dependencies=[ApiKeyGuard], responses=ERRORS)
        r.add_api_route("/streams", self.list_streams, methods=["GET"], response_model=StreamList)
        r.add_api_route(
            "/streams/{stream:path}/record",
            self.put_record,
            methods=["PUT"],
            response_model=PutRecordResponse,
            openapi_extra=_body_doc(PutRecordRequest),
        )
        r.add_api_route(
            "/streams/{stream:path}/records",
            self.put_records,
            methods=["PUT"],
            response_model=PutRecordsResponse,
            openapi_extra=_body_doc(PutRecordsRequest),
        )
        r.add_api_route(
            "/streams/{stream:path}",
            self.create_stream,
            methods=["POST"],
            response_model=StreamDescription,
            openapi_extra=_body_doc(CreateStreamRequest),
        )
        r.add_api_route(
            "/streams/{stream:path}", self.describe_stream, methods=["GET"], response_model=StreamDescription
        )
        r.add_api_route("/streams/{stream:path}", self.delete_stream, methods=["DELETE"], response_model=StreamDeleted)

    @staticmethod
    async def put_record(stream: str, request: Request, log: StreamLogDep, metrics: MetricsDep) -> Response:
        """One record; 200 means it is durable."""
        name = checked_name(stream, "stream")
        with request.app.state.budget.hold(request):
            body = await read_json(request, KINESIS_TYPES)
            if not isinstance(body, dict):
                raise ApiError(422, 'body must be {"Data": <row>, "PartitionKey": "…"}')
            record = parse_entry(body, "record")
            (appended,) = await append(log, name, [record])
        metrics.accepted("stream", name, 1)
        out = {"SequenceNumber": str(appended.offset), "ShardId": shard_id(appended.partition)}
        return Response(orjson.dumps(out), media_type="application/json")

    @staticmethod
    async def put_records(stream: str, request: Request, log: StreamLogDep, metrics: MetricsDep) -> Response:
        """Many records; 200 with ``FailedRecordCount`` and one result per record, as Kinesis answers.

        On a log whose appends are all or nothing (embedded, Kafka) ``FailedRecordCount`` is 0 on every
        200. On Kinesis a request can go in partly: the records not written carry ``ErrorCode`` and
        ``ErrorMessage``, the others their ``SequenceNumber``, so the client resends only the former.
        """
        name = checked_name(stream, "stream")
        with request.app.state.budget.hold(request):
            body = await read_json(request, KINESIS_TYPES)
            entries = body.get("Records") if isinstance(body, dict) else None
            if not isinstance(entries, list):
                raise ApiError(422, 'body must be {"Records": [{"Data": <row>, "PartitionKey": "…"}, …]}')
            records = []
            for i, entry in enumerate(entries):
                if not isinstance(entry, dict):
                    raise ApiError(422, f"Records[{i}] must be an object with Data and PartitionKey")
                records.append(parse_entry(entry, f"Records[{i}]"))
            outcomes = await append_each(log, name, records)
        written = [o for o in outcomes if isinstance(o, Appended)]
        metrics.accepted("stream", name, len(written))
        out = {"FailedRecordCount": len(outcomes) - len(written), "Records": [result_entry(o) for o in outcomes]}
        return Response(orjson.dumps(out), media_type="application/json")

    @staticmethod
    async def list_streams(log: StreamLogDep) -> StreamList:
        topics = await run_in_threadpool(log.topics)
        return StreamList(StreamNames=sorted(topics))

    @staticmethod
    async def create_stream(
        stream: str, request: Request, log: StreamLogDep, settings: SettingsDep
    ) -> StreamDescription:
        """Create a stream with ``ShardCount`` shards (default ``PINPIPE_PARTITIONS``); 400 if it exists."""
        name = checked_name(stream, "stream")
        body = await read_json(request, KINESIS_TYPES, optional=True)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ApiError(422, 'body must be {"ShardCount": n} or empty')
        shards = body.get("ShardCount", settings.partitions)
        if type(shards) is not int or not 1 <= shards <= 1024:
            raise ApiError(422, f"ShardCount must be an integer from 1 to 1024, not {shards!r}")
        topics = await run_in_threadpool(log.topics)
        if name in topics:
            raise ApiError(400, f"stream {name!r} already exists", aws_type="ResourceInUseException")
        await run_in_threadpool(log.create_topic, name, shards)
        return await _describe(log, name)

    @staticmethod
    async def describe_stream(stream: str, log: StreamLogDep) -> StreamDescription:
        return await _describe(log, checked_name(stream, "stream"))

    @staticmethod
    async def delete_stream(stream: str, log: StreamLogDep) -> StreamDeleted:
        """Delete a stream and its records."""
        name = checked_name(stream, "stream")
        await run_in_threadpool(log.delete_topic, name)
        return StreamDeleted(StreamName=name)


async def _describe(log: EventLog, name: str) -> StreamDescription:
    topics = await run_in_threadpool(log.topics)
    if name not in topics:
        raise ApiError(404, f"stream {name!r} not found", error_code=TOPIC_NOT_FOUND)
    return StreamDescription(
        StreamDescription=StreamDescriptionBody(
            StreamName=name, StreamStatus="ACTIVE", Shards=[Shard(ShardId=shard_id(p)) for p in range(topics[name])]
        )
    )


def result_entry(outcome: Appended | RecordRefused) -> dict[str, str]:
    if isinstance(outcome, Appended):
        return {"SequenceNumber": str(outcome.offset), "ShardId": shard_id(outcome.partition)}
    return {"ErrorCode": outcome.error_code, "ErrorMessage": outcome.message}


def parse_entry(entry: dict[str, Any], where: str) -> OutRecord:
    """``{"Data": row | "base64", "PartitionKey": "…"}`` → a record keyed by the partition key."""
    if "Data" not in entry:
        raise ApiError(422, f"{where} has no Data: send the row as Data")
    key = entry.get("PartitionKey")
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_PARTITION_KEY:
        raise ApiError(422, f"{where}.PartitionKey must be a string of 1-{MAX_PARTITION_KEY} characters")
    data = entry["Data"]
    if isinstance(data, str):
        try:
            value = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(422, f"{where}.Data is a string but not base64; send the row as a JSON object") from None
        check_record_size(value, f"{where}.Data")
    else:
        value = value_bytes(data, f"{where}.Data")
    return OutRecord(value, key.encode())
