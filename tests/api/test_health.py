"""/health answers for load balancers; /metrics counts what was accepted, how long it took, what failed."""

from __future__ import annotations

import gc
import json

import httpx

from pinpipe.api.main import create_app
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings
from tests.api.conftest import AMZ_JSON, KAFKA_JSON, serve


def metric_lines(client: httpx.Client) -> list[str]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text.splitlines()


def test_health_reports_the_log(client: httpx.Client) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["log"].startswith("sqlite:///") and body["log"].endswith("log.db")
    assert body["topics"] == 6  # three topics and three streams, created at start-up


def test_metrics_count_records_latency_and_errors(client: httpx.Client) -> None:
    batch = json.dumps({"records": [{"value": {"n": i}} for i in range(7)]})
    assert client.post("/topics/pinterest.geo", content=batch, headers=KAFKA_JSON).status_code == 200
    record = json.dumps({"Data": {"n": 1}, "PartitionKey": "p"})
    assert client.put("/streams/streaming-pinterest-user/record", content=record, headers=AMZ_JSON).status_code == 200
    assert client.post("/topics/nope", content=batch, headers=KAFKA_JSON).status_code == 404
    assert client.post("/topics/pinterest.geo", content="{", headers=KAFKA_JSON).status_code == 400
    lines = metric_lines(client)
    assert 'pinpipe_gateway_records_accepted_total{kind="topic",name="pinterest.geo"} 7.0' in lines
    assert 'pinpipe_gateway_records_accepted_total{kind="stream",name="streaming-pinterest-user"} 1.0' in lines
    assert 'pinpipe_gateway_errors_total{status="404"} 1.0' in lines
    assert 'pinpipe_gateway_errors_total{status="400"} 1.0' in lines
    counts = [line for line in lines if line.startswith("pinpipe_gateway_request_duration_seconds_count")]
    assert 'pinpipe_gateway_request_duration_seconds_count{method="POST",route="/topics/{topic:path}"} 3.0' in counts
    assert any('route="/streams/{stream:path}/record"' in line for line in counts)
    # Unrouted paths share one label, so scanners cannot blow up the series count.
    assert client.get("/wp-admin/x").status_code == 404
    assert client.get("/other/y").status_code == 404
    after = [line for line in metric_lines(client) if line.startswith("pinpipe_gateway_request_duration_seconds_count")]
    assert 'pinpipe_gateway_request_duration_seconds_count{method="GET",route="unmatched"} 2.0' in after


def test_docs_and_dashboard(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/topics/{topic}", "/streams/{stream}/record", "/streams/{stream}/records", "/health"} <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "http://" not in docs.text and "https://" not in docs.text  # no CDN: assets are served here
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="charts"' in page.text and "assets/dashboard.js" in page.text  # the dashboard (issue 9)


def test_a_gateway_that_owns_its_process_freezes_its_start_up_objects(settings: Settings, log: EmbeddedLog) -> None:
    """`pinpipe api` keeps what start-up built out of the cyclic GC (full collections re-scanned it and
    stalled requests under load); an app built in a shared process (tests) leaves the GC alone."""
    gc.unfreeze()
    try:
        with serve(create_app(settings, log=log)) as shared:
            assert shared.get("/health").status_code == 200
            assert gc.get_freeze_count() == 0
        with serve(create_app(settings, log=log, own_process=True)) as owner:
            assert owner.get("/health").status_code == 200
            assert gc.get_freeze_count() > 10_000  # FastAPI, pydantic and the routes, at least
    finally:
        gc.unfreeze()
