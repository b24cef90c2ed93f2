"""Reading request bodies: content type, size limits and JSON, checked before anything is stored.

Bodies are parsed with orjson from the raw bytes rather than through a pydantic model per record:
on 500-record batches that is the difference between ~74k and ~100k records/s (TOOLING.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import Request

from pinpipe.api.errors import ApiError
from pinpipe.errors import ValidationError
from pinpipe.log.names import validate_name

MAX_BODY_BYTES = 10 * 1024 * 1024  # 10 MiB, the API Gateway payload limit
MAX_RECORD_BYTES = 1024 * 1024  # 1 MiB, the Kinesis record limit (the Kafka default is about the same)
# A body not complete this long after its headers is cut off with 408: a client that stalls mid-body
# (slowloris) would otherwise hold its connection and buffers forever. 29 s is API Gateway's limit.
BODY_TIMEOUT_S = 30.0

KAFKA_JSON_TYPES = frozenset({"application/vnd.kafka.json.v2+json", "application/json"})
KINESIS_TYPES = frozenset({"application/json", "application/x-amz-json-1.1"})


def checked_name(name: str, what: str) -> str:
    """A topic/stream name from the path, refused with 400 before the log is touched."""
    try:
        return validate_name(name, what=what)
    except ValidationError as exc:
        raise ApiError(400, str(exc)) from exc


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refused with 413 when Content-Length says, or the bytes read show, it is too big."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, f"invalid Content-Length {declared[:20]!r}") from None
        if size > limit:
            raise ApiError(413, f"request body of {size} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    total = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise ApiError(413, f"request body is over the {limit}-byte limit")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, f"request body not complete after {BODY_TIMEOUT_S:g}s ({total} bytes received)") from None
    return b"".join(chunks)


async def read_json(request: Request, accepted: frozenset[str], *, optional: bool = False) -> Any:
    """Check the content type (415), read with limits (413) and parse (400); ``None`` if optional and empty."""
    body_type = media_type(request)
    if optional and request.headers.get("content-length") in (None, "0") and not body_type:
        return None
    if body_type not in accepted:
        shown = body_type or "none"
        raise ApiError(415, f"unsupported Content-Type {shown!r}; use one of: {', '.join(sorted(accepted))}")
    raw = await read_body(request)
    if optional and not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None


def value_bytes(value: Any, where: str) -> bytes:
    """A record value as stored: the row's JSON, refused with 422 over 1 MiB."""
    try:
        data = orjson.dumps(value)
    except TypeError as exc:  # e.g. an integer beyond 64 bits
        raise ApiError(422, f"{where}: value cannot be stored as JSON: {exc}") from None
    check_record_size(data, where)
    return data


def check_record_size(data: bytes, where: str) -> None:
    if len(data) > MAX_RECORD_BYTES:
        raise ApiError(422, f"{where} is {len(data)} bytes, over the {MAX_RECORD_BYTES}-byte record limit")
