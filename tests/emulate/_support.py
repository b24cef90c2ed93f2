"""Test support for the emulators: a small source database and a scripted gateway on 127.0.0.1.

The gateway here is a real HTTP server (uvicorn, in a thread) speaking the contract's two routes, so
the emulator's client, retries and partial-failure handling run against real sockets; its ``script``
decides per request whether to answer normally, with an error status, with Kinesis partial failures,
or by dropping the connection after the records were taken (an unknown outcome for the client).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from sqlalchemy import create_engine, insert

from pinpipe.source.schema import geolocation_data, metadata, pinterest_data, user_data
from tests.services import free_port, wait_until


def make_source(
    path: Path,
    inds: Iterable[int],
    *,
    no_geo: Iterable[int] = (),
    no_user: Iterable[int] = (),
    geo_only: Iterable[int] = (),
) -> str:
    """A SQLite source DB holding one event per ind (minus the gaps asked for); returns its URL."""
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    metadata.create_all(engine)
    inds, skip_geo, skip_user, extra_geo = list(inds), set(no_geo), set(no_user), list(geo_only)
    pins = [
        {
            "index": i,
            "unique_id": f"00000000-0000-0000-0000-{i:012d}",
            "title": f"title {i} ✨",
            "description": "No description available Story format",
            "poster_name": "poster",
            "follower_count": "12k",
            "tag_list": "a,b",
            "is_image_or_video": "image",
            "image_src": "https://example.invalid/x.jpg",
            "downloaded": 1,
            "save_location": "Local save in /data/art",
            "category": "art",
        }
        for i in inds
    ]
    geos = [
        {
            "ind": i,
            "timestamp": dt.datetime(2020, 8, 28, 3, 52, 47) + dt.timedelta(minutes=i),
            "latitude": -89.9787,
            "longitude": -173.293,
            "country": "Albania",
        }
        for i in [*inds, *extra_geo]
        if i not in skip_geo
    ]
    users = [
        {
            "ind": i,
            "first_name": "Abigail",
            "last_name": "Ali",
            "age": 20,
            "date_joined": dt.datetime(2015, 10, 24, 11, 23, 51),
        }
        for i in inds
        if i not in skip_user
    ]
    with engine.begin() as conn:
        for table, rows in ((pinterest_data, pins), (geolocation_data, geos), (user_data, users)):
            if rows:
                conn.execute(insert(table), rows)
    engine.dispose()
    return url


@dataclass
class Reply:
    """What the scripted gateway answers instead of the normal 200."""

    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Store the records, start a 200 and drop the connection before the body: the client cannot know.
    drop_after_store: bool = False


Script = Callable[["FakeGateway", str, str, dict[str, Any]], Reply | None]


class FakeGateway:
    """A scripted gateway: ``stored`` is its "log" (destination → list of rows, in append order)."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script
        self.stored: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.received: Counter[tuple[str, int]] = Counter()  # (destination, ind) → times received
        self.requests: list[tuple[str, str, int]] = []  # (method, path, records)
        self.headers: list[dict[str, str]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self._thread = threading.Thread(target=self._server.run, name="fake-gateway", daemon=True)

    def __enter__(self) -> FakeGateway:
        self._thread.start()
        wait_until(lambda: self._server.started, timeout=10, what="fake gateway")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def inds(self, destination: str) -> list[int]:
        key = "index" if destination.endswith("pin") else "ind"
        return [row[key] for row in self.stored[destination]]

    @staticmethod
    def ind_of(row: dict[str, Any]) -> int:
        return int(row["index"] if "index" in row else row["ind"])

    def store(self, destination: str, rows: list[dict[str, Any]]) -> list[int]:
        log = self.stored[destination]
        first = len(log)
        log.extend(rows)
        return list(range(first, first + len(rows)))

    def _normal(self, method: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        destination = parts[1]
        if parts[0] == "topics":
            offsets = self.store(destination, [r["value"] for r in payload["records"]])
            return {"offsets": [{"partition": 0, "offset": o, "error_code": None, "error": None} for o in offsets]}
        if parts[-1] == "record":
            (seq,) = self.store(destination, [payload["Data"]])
            return {"SequenceNumber": str(seq), "ShardId": "shardId-000000000000"}
        seqs = self.store(destination, [r["Data"] for r in payload["Records"]])
        records = [{"SequenceNumber": str(s), "ShardId": "shardId-000000000000"} for s in seqs]
        return {"FailedRecordCount": 0, "Records": records}

    @staticmethod
    def rows_of(path: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
        if path.startswith("/topics/"):
            return [r["value"] for r in payload["records"]]
        if path.endswith("/record"):
            return [payload["Data"]]
        return [r["Data"] for r in payload["Records"]]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        method, path = scope["method"], scope["path"]
        payload = orjson.loads(body)
        rows = self.rows_of(path, payload)
        destination = path.strip("/").split("/")[1]
        for row in rows:
            self.received[(destination, self.ind_of(row))] += 1
        self.requests.append((method, path, len(rows)))
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        reply = self.script(self, method, path, payload) if self.script else None
        if reply is None or reply.drop_after_store:
            out = self._normal(method, path, payload)
            if reply is not None:  # drop: stored, then the answer is lost
                await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"999")]})
                raise ConnectionAbortedError("fake gateway drops the connection on purpose")
            reply = Reply(body=out)
        data = orjson.dumps(reply.body if reply.body is not None else {"message": f"status {reply.status}"})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        headers += [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


class FakeClock:
    """Time that moves only when the emulator sleeps on its token bucket: counts become exact."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        import asyncio

        self.now += seconds
        await asyncio.sleep(0)
