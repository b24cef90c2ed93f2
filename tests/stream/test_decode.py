"""Record bytes → row JSON: plain JSON, base64 in a JSON string (API Gateway mapping), bare base64."""

from __future__ import annotations

import base64

import orjson
import pytest

from pinpipe.stream.decode import DecodeError, decode_row, row_text

ROW = {"ind": 7528, "country": "Albania", "latitude": -89.9787, "timestamp": "2020-08-28 03:52:47"}
RAW = orjson.dumps(ROW)


def test_plain_json_passes_through_untouched() -> None:
    assert row_text(RAW) == RAW.decode()
    assert decode_row(RAW) == ROW


def test_base64_inside_a_json_string_is_unwrapped() -> None:
    wrapped = orjson.dumps(base64.b64encode(RAW).decode())
    assert orjson.loads(row_text(wrapped)) == ROW


def test_bare_base64_bytes_are_unwrapped() -> None:
    assert decode_row(base64.b64encode(RAW)) == ROW
    assert decode_row(base64.urlsafe_b64encode(RAW).rstrip(b"=")) == ROW


def test_two_layers_of_base64_are_unwrapped() -> None:
    twice = base64.b64encode(base64.b64encode(RAW))
    assert decode_row(twice) == ROW


def test_non_ascii_row_survives_base64() -> None:
    row = {"ind": 1, "title": "Описание ✨\u00a0…"}
    assert decode_row(base64.b64encode(orjson.dumps(row))) == row


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"not json", "neither JSON nor base64"),
        (b"[1, 2]", "JSON list"),
        (b'"hello world"', "not base64"),
        (base64.b64encode(b"[1]"), "JSON list"),
        (b"", "neither JSON nor base64"),
    ],
)
def test_what_is_not_a_row_says_why(value: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        decode_row(value)


def test_invalid_utf8_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="UTF-8"):
        row_text(b'{"ind": 1, "title": "\xff"}')
