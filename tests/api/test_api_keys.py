"""API keys: with PINPIPE_API_KEYS set every route but /health needs x-api-key; no keys, no open bind."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pinpipe.cli.api import is_loopback
from tests.api.conftest import AMZ_JSON, KAFKA_JSON
from tests.support.processes import PINPIPE

PROTECTED = [
    ("POST", "/topics/pinterest.pin", json.dumps({"records": [{"value": {"n": 1}}]}), KAFKA_JSON),
    ("GET", "/topics", "", {}),
    ("GET", "/topics/pinterest.pin", "", {}),
    ("GET", "/streams", "", {}),
    ("GET", "/streams/streaming-pinterest-pin", "", {}),
    ("PUT", "/streams/streaming-pinterest-pin/record", json.dumps({"Data": {"n": 1}, "PartitionKey": "p"}), AMZ_JSON),
    ("PUT", "/streams/streaming-pinterest-pin/records", json.dumps({"Records": []}), AMZ_JSON),
    ("GET", "/metrics", "", {}),
    ("GET", "/docs", "", {}),
    ("GET", "/openapi.json", "", {}),
    ("GET", "/", "", {}),
]


@pytest.fixture
def keyed(make_client: Callable[..., httpx.Client]) -> httpx.Client:
    return make_client(api_keys="first-key,second-key")


@pytest.mark.parametrize(("method", "path", "body", "headers"), PROTECTED, ids=[f"{m} {p}" for m, p, _, _ in PROTECTED])
def test_missing_key_is_401_and_wrong_key_is_403(
    keyed: httpx.Client, method: str, path: str, body: str, headers: dict[str, str]
) -> None:
    missing = keyed.request(method, path, content=body, headers=headers)
    assert missing.status_code == 401
    assert missing.json()["error_code"] == 40101
    wrong = keyed.request(method, path, content=body, headers={**headers, "x-api-key": "first-kez"})
    assert wrong.status_code == 403
    assert wrong.json()["error_code"] == 40301
    right = keyed.request(method, path, content=body, headers={**headers, "x-api-key": "second-key"})
    assert right.status_code == 200, right.text


def test_health_is_open_with_keys_set(keyed: httpx.Client) -> None:
    assert keyed.get("/health").status_code == 200


def test_refused_write_stores_nothing(keyed: httpx.Client) -> None:
    body = json.dumps({"records": [{"value": {"n": 1}}]})
    assert keyed.post("/topics/pinterest.pin", content=body, headers=KAFKA_JSON).status_code == 401
    ok = keyed.post("/topics/pinterest.pin", content=body, headers={**KAFKA_JSON, "x-api-key": "first-key"})
    assert ok.json()["offsets"][0]["offset"] == 0


def test_no_keys_means_open(client: httpx.Client) -> None:
    assert client.get("/topics").status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_cli_refuses_a_public_bind_without_keys(home: Path) -> None:
    result = subprocess.run(
        [PINPIPE, "api", "--host", "0.0.0.0", "--port", "9"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "refusing to serve on '0.0.0.0' without API keys" in result.stderr
    assert "--insecure" in result.stderr
