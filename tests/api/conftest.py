"""Gateway test fixtures: the real app served by uvicorn in a thread on a free loopback port.

Real HTTP (httptools), real lifespan (topics created at start-up), real embedded log; the app object
stays in this process, so a test can still read the log or use ``dependency_overrides``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from pinpipe.api import create_app
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings, get_settings
from tests.services import free_port, wait_until

KAFKA_JSON = {"Content-Type": "application/vnd.kafka.json.v2+json"}
AMZ_JSON = {"Content-Type": "application/json"}


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[httpx.Client]:
    """Serve ``app`` until the block ends; yields a client with the server's base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, loop="asyncio", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=30, what="in-process gateway")
        assert server.started, "the gateway failed to start (see the log above)"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def read_back(log: EmbeddedLog, topic: str) -> dict[tuple[int, int], bytes]:
    """Every stored record of ``topic`` by (partition, offset), as a fresh consumer group reads it."""
    out: dict[tuple[int, int], bytes] = {}
    with log.consumer("test-reader", [topic]) as consumer:
        while batch := consumer.poll(max_records=1000, timeout_s=0):
            out.update({(r.partition, r.offset): r.value for r in batch})
    return out


@pytest.fixture
def settings(home: Path) -> Settings:
    return get_settings()


@pytest.fixture
def log(settings: Settings) -> Iterator[EmbeddedLog]:
    """The embedded log the app writes to, open in the test too (as the sink would open it)."""
    opened = EmbeddedLog(settings.log_url or "", settings)
    yield opened
    opened.close()


@pytest.fixture
def app(settings: Settings, log: EmbeddedLog) -> FastAPI:
    return create_app(settings, log=log)


@pytest.fixture
def client(app: FastAPI) -> Iterator[httpx.Client]:
    with serve(app) as http:
        yield http


@pytest.fixture
def make_client(settings: Settings) -> Iterator[Callable[..., httpx.Client]]:
    """Build and serve an app with changed settings (``make_client(api_keys="k1")``)."""
    stack = contextlib.ExitStack()

    def make(**changes: object) -> httpx.Client:
        changed = get_settings(**{**settings.model_dump(include={"home", "prefix"}), **changes})
        return stack.enter_context(serve(create_app(changed)))

    with stack:
        yield make
