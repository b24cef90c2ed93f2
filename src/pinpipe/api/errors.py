"""Gateway errors: one JSON shape, ``{"error_code": …, "message": …}``, as the Kafka REST Proxy answers.

Routes raise :class:`ApiError`; the handlers registered by :func:`install_error_handlers` turn it, the
event log's errors and FastAPI's own into that shape, so no input can produce a bare 500 page or a
half-written batch. Kinesis routes add ``__type`` (``ResourceNotFoundException`` …) as AWS does.
"""

from __future__ import annotations

import logging
import math

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from pinpipe.api.availability import LogDownError
from pinpipe.errors import BackendUnavailableError, PinpipeError, RetryableError, ValidationError
from pinpipe.log.base import InvalidPartitionError, PartlyAppendedError, UnknownTopicError

logger = logging.getLogger("pinpipe.api")

# Confluent REST Proxy error codes for the cases it distinguishes; others use the HTTP status.
TOPIC_NOT_FOUND = 40401
PARTITION_NOT_FOUND = 40402
UNAUTHENTICATED = 40101
FORBIDDEN = 40301


class ApiError(Exception):
    """An error answer: HTTP ``status``, the body's ``error_code`` and ``message``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_code: int | None = None,
        aws_type: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code if error_code is not None else status
        self.aws_type = aws_type
        self.retry_after = retry_after


def error_response(error: ApiError, request: Request | None = None) -> Response:
    body: dict[str, object] = {"error_code": error.error_code, "message": error.message}
    if error.aws_type or (request is not None and request.url.path.startswith("/streams")):
        body["__type"] = error.aws_type or _aws_type(error.status)
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return Response(orjson.dumps(body), status_code=error.status, media_type="application/json", headers=headers)


def _aws_type(status: int) -> str:
    return {
        400: "SerializationException",
        401: "MissingAuthenticationTokenException",
        403: "AccessDeniedException",
        404: "ResourceNotFoundException",
        413: "ValidationException",
        415: "UnsupportedMediaTypeException",
        422: "ValidationException",
        429: "ProvisionedThroughputExceededException",
        503: "ServiceUnavailableException",
    }.get(status, "InternalFailure")


def from_pinpipe_error(exc: PinpipeError) -> ApiError:
    """The event log's errors as HTTP answers (RetryableError → 429/503 with Retry-After)."""
    if isinstance(exc, UnknownTopicError):
        return ApiError(404, f"topic/stream {exc.topic!r} not found", error_code=TOPIC_NOT_FOUND)
    if isinstance(exc, InvalidPartitionError):
        return ApiError(404, str(exc), error_code=PARTITION_NOT_FOUND)
    if isinstance(exc, ValidationError):
        return ApiError(400, str(exc))
    if isinstance(exc, BackendUnavailableError) or (isinstance(exc, PartlyAppendedError) and exc.unavailable):
        return ApiError(503, f"event log unavailable, nothing was written: {exc}", retry_after=exc.retry_after or 1.0)
    if isinstance(exc, RetryableError):
        return ApiError(429, f"event log busy, nothing was written: {exc}", retry_after=exc.retry_after or 1.0)
    return ApiError(500, f"gateway error, nothing was written: {exc}")


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc, request)

    async def on_pinpipe_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PinpipeError)
        error = from_pinpipe_error(exc)
        if isinstance(exc, BackendUnavailableError):
            for watch in request.app.state.watches.values():
                watch.suspect()  # a probe tells a log that is down from one failed request
        if error.status >= 500 and not isinstance(exc, LogDownError):
            logger.warning("%s %s → %d: %s", request.method, request.url.path, error.status, exc)
        return error_response(error, request)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(ApiError(exc.status_code, str(exc.detail)), request)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        parts = ["{}: {}".format(".".join(str(p) for p in e.get("loc", ())), e.get("msg")) for e in exc.errors()]
        return error_response(ApiError(422, "; ".join(parts) or "invalid request"), request)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(ApiError(500, f"internal gateway error ({type(exc).__name__})"), request)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(PinpipeError, on_pinpipe_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)
