"""Record bytes → one raw row (a JSON object), whatever way the route wrapped it.

The Kinesis route carries ``Data`` in one of three shapes, and the stream job must take them all:

1. the row's JSON itself (``{"index": 1, …}``): what our gateway stores for ``"Data": {row}`` and what a
   real Kinesis consumer sees after the API Gateway mapping ``$util.base64Encode($input.json('$.Data'))``
   (Kinesis base64-decodes ``Data`` on ``PutRecord``);
2. a JSON string holding base64 (``"eyJpbmRleCI6…"``): a client that base64-encoded the row itself,
   stored as the mapping's ``$input.json('$.Data')`` would store it;
3. bare base64 bytes (``eyJpbmRleCI6…``): a producer that put the base64 text as the blob.

Detection is by shape, never by guessing: valid JSON is taken as it is; only what is not a JSON object
is tried as strict base64, and the decoded bytes must then be a JSON object too. Anything else is a
:class:`DecodeError` whose message becomes the dead letter's reason.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

# A row is never nested deeper than this many base64 layers (the mapping adds at most one per hop).
MAX_BASE64_LAYERS = 2


class DecodeError(ValueError):
    """The bytes are not a row: the message is the dead letter's reason."""


def _b64(text: bytes) -> bytes | None:
    """Strict base64 (standard or URL-safe alphabet); None when ``text`` is not base64."""
    compact = text.strip()
    if not compact or len(compact) % 4 == 1:
        return None
    padded = compact + b"=" * (-len(compact) % 4)
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def row_text(value: bytes) -> str:
    """The row's JSON text, ready for the shared cleaning (which parses and validates it).

    Fast path: bytes that start like a JSON object are passed on as they are (no parse here; the
    cleaning's parser decides whether they are a valid object). Anything else goes through
    :func:`decode_row` (base64 layers) and is re-serialised.
    """
    head = value.lstrip()[:1]
    if head == b"{":
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"record is not valid UTF-8 (byte {exc.start}): {_preview(value)}") from None
    return orjson.dumps(decode_row(value)).decode("utf-8")


def decode_row(value: bytes) -> dict[str, Any]:
    """The raw row in ``value``; raises :class:`DecodeError` with a reason a person can act on."""
    data = value
    for _ in range(MAX_BASE64_LAYERS + 1):
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            parsed = _NOT_JSON
        if isinstance(parsed, dict):
            return parsed
        if parsed is _NOT_JSON:
            candidate = data
        elif isinstance(parsed, str):
            candidate = parsed.encode()
        else:
            raise DecodeError(f"record is JSON {type(parsed).__name__}, not an object (a row)")
        decoded = _b64(candidate)
        if decoded is None:
            what = "a JSON string that is not base64" if parsed is not _NOT_JSON else "neither JSON nor base64"
            raise DecodeError(f"record is {what} of a JSON object: {_preview(value)}")
        data = decoded
    raise DecodeError(f"record is base64 nested more than {MAX_BASE64_LAYERS} times: {_preview(value)}")


_NOT_JSON = object()


def _preview(value: bytes, limit: int = 60) -> str:
    text = value[:limit].decode("utf-8", errors="replace")
    return repr(text + ("…" if len(value) > limit else ""))
