"""Every row of the bad-input table (:mod:`tests.reliability.bad_input`) against a real ``pinpipe api``
with API keys; then the slowloris case, which needs a client of its own.

Each case checks the answer (status, and a JSON error with a message), what the log holds afterwards
(end offsets unchanged, or the exact value at the acknowledged offset) and that the gateway still
serves a good record. The gateway is one process for the whole module, so a case that crashed it
would fail every later one.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from pinpipe.api import body as api_body
from pinpipe.api import create_app
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import get_settings
from tests.api.conftest import read_back, serve
from tests.reliability.bad_input import CASES, GOOD_KEY, KAFKA, STREAM, TOPIC, UNSET, VERBATIM, Case
from tests.reliability.chaos import pinpipe_env
from tests.support.gateway import Gateway

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]


class Served:
    def __init__(self, gateway: Gateway, log: EmbeddedLog, client: httpx.Client) -> None:
        self.gateway, self.log, self.client = gateway, log, client


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("bad-input") / "home"
    gateway = Gateway(home, base_env=pinpipe_env(home, PINPIPE_API_KEYS=f"{GOOD_KEY},second-key"))
    gateway.start()
    settings = get_settings(home=home)
    log = EmbeddedLog(str(settings.log_url), settings)
    try:
        with httpx.Client(base_url=gateway.url, timeout=60) as client:
            yield Served(gateway, log, client)
    finally:
        log.close()
        gateway.stop()


def ends(log: EmbeddedLog) -> dict[str, dict[int, int]]:
    return {name: log.end_offsets(name) for name in (TOPIC, STREAM)}


def assert_good_record_still_acknowledged(client: httpx.Client) -> None:
    body = json.dumps({"records": [{"value": {"index": 1, "title": "still fine"}}]})
    response = client.post(f"/topics/{TOPIC}", content=body, headers={**KAFKA, "x-api-key": GOOD_KEY})
    assert response.status_code == 200, response.text


def acknowledged(case: Case, response: httpx.Response) -> list[tuple[int, int]]:
    """(partition, offset) of each record the answer acknowledged."""
    body = response.json()
    if "offsets" in body:
        return [(o["partition"], o["offset"]) for o in body["offsets"]]
    entries = body.get("Records", [body])
    return [(int(e["ShardId"].rsplit("-", 1)[1]), int(e["SequenceNumber"])) for e in entries]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_case(served: Served, case: Case) -> None:
    before = ends(served.log)
    response = served.client.request(case.method, case.path, content=case.body, headers=case.request_headers())
    assert response.status_code == case.status, response.text[:500]
    if case.status >= 400:
        error = response.json()
        assert isinstance(error["message"], str) and error["message"], error
        assert error["error_code"] // 100 == case.status or error["error_code"] == case.status, error
        assert ends(served.log) == before, "an error answer changed the log"
    else:
        positions = acknowledged(case, response)
        stored = read_back(served.log, case.target)
        assert all(p in stored for p in positions)
        if case.outcome == VERBATIM:
            assert case.stored is not UNSET and len(positions) == 1
            assert orjson.loads(stored[positions[0]]) == case.stored
        else:
            assert len(positions) == 5000 and [orjson.loads(stored[p])["n"] for p in positions] == list(range(5000))
    assert_good_record_still_acknowledged(served.client)
    assert served.gateway.proc is not None and served.gateway.proc.poll() is None


def test_the_table_is_big_enough_and_every_case_distinct() -> None:
    assert len(CASES) + 1 >= 30
    assert len({c.id for c in CASES}) == len(CASES)


# ---------------------------------------------------------------- slowloris


@pytest.mark.timeout(60)
def test_slowloris_partial_body_is_cut_off_and_others_are_served(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that sends headers and 10 of 1,000 declared body bytes, then nothing, gets 408 after
    the gateway's body timeout (shortened here to 1 s); meanwhile other clients are served."""
    monkeypatch.setattr(api_body, "BODY_TIMEOUT_S", 1.0)
    settings = get_settings()
    app = create_app(settings)
    with serve(app) as client:
        port = int(str(client.base_url).rsplit(":", 1)[1].rstrip("/"))
        slow = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            slow.sendall(
                f"POST /topics/{TOPIC} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 1000\r\n\r\n".encode()
                + b'{"records":'
            )
            # While the slow body is pending, others get through.
            for _ in range(20):
                assert_good_record_served(client)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = slow.recv(65536)  # bounded by the socket timeout: a gateway that never answers fails here
                if not chunk:
                    break
                answer += chunk
        finally:
            slow.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert_good_record_served(client)
    log = EmbeddedLog(str(settings.log_url), settings)
    try:
        assert log.end_offsets(TOPIC) == {0: 21}  # the 21 good records, nothing of the slow one
    finally:
        log.close()


def assert_good_record_served(client: httpx.Client) -> None:
    body = json.dumps({"records": [{"value": {"index": 2, "title": "others served"}}]})
    assert client.post(f"/topics/{TOPIC}", content=body, headers=KAFKA).status_code == 200


def test_slow_but_steady_body_within_the_timeout_is_accepted(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The timeout cuts off a stalled body, not a slow link: chunks inside the limit are fine."""
    monkeypatch.setattr(api_body, "BODY_TIMEOUT_S", 5.0)
    app = create_app(get_settings())
    body = json.dumps({"records": [{"value": {"index": 3}}]}).encode()

    async def chunks() -> object:
        for i in range(0, len(body), 8):
            yield body[i : i + 8]
            await asyncio.sleep(0)

    with serve(app) as client:

        async def post() -> int:
            async with httpx.AsyncClient(base_url=str(client.base_url), timeout=30) as http:
                response = await http.post(f"/topics/{TOPIC}", content=chunks(), headers=KAFKA)
                return response.status_code

        assert asyncio.run(post()) == 200
