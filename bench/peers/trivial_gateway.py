"""The framework's floor: a FastAPI app that parses a Kafka REST v2 produce body and answers offsets.

Nothing is written anywhere; the route does what any gateway on FastAPI must (parse and validate the
body with pydantic, the way FastAPI's docs write a route, into pinpipe's own request model; build the
answer) and nothing more. Served as pinpipe's gateway is: uvicorn, one worker, uvloop and httptools, no
access log.
"""

from __future__ import annotations

from fastapi import FastAPI

from pinpipe.api.models import PartitionOffset, ProduceRequest, ProduceResponse

app = FastAPI(title="trivial Kafka REST gateway")


@app.post("/topics/{topic}")
async def produce(topic: str, body: ProduceRequest) -> ProduceResponse:
    return ProduceResponse(offsets=[PartitionOffset(partition=0, offset=i) for i in range(len(body.records))])
