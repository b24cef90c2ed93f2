"""`pinpipe api --with-stream`: the stream job inside the gateway process, its metrics on /metrics."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from pinpipe.settings import get_settings
from pinpipe.source.generator import CANONICAL_GEO, CANONICAL_IND, CANONICAL_PIN, CANONICAL_USER
from pinpipe.tables import read_table, warehouse_table
from tests import services
from tests.support.gateway import Gateway

pytestmark = pytest.mark.services


def _metric(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus text, whatever order its labels come in (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_stream_job_runs_in_the_gateway_and_reports_on_metrics(home: Path, tmp_path: Path) -> None:
    gateway = Gateway(home, args=["--with-stream"], log_path=tmp_path / "gateway.log")
    try:
        gateway.start()
        with httpx.Client(base_url=gateway.url, timeout=10) as client:
            rows = {"pin": CANONICAL_PIN, "geo": CANONICAL_GEO, "user": CANONICAL_USER}
            for kind, row in rows.items():
                body = json.dumps({"Data": row, "PartitionKey": "p"}, default=str)
                stream = f"streaming-pinterest-{kind}"
                response = client.put(
                    f"/streams/{stream}/record", content=body, headers={"content-type": "application/json"}
                )
                assert response.status_code == 200, response.text
            bad = json.dumps({"Data": {"test": 1}, "PartitionKey": "p"})
            assert (
                client.put(
                    "/streams/streaming-pinterest-user/record",
                    content=bad,
                    headers={"content-type": "application/json"},
                ).status_code
                == 200
            )

            def all_consumed() -> bool:
                text = client.get("/metrics").text
                written = sum(
                    _metric(text, "pinpipe_stream_records_total", stream=f"streaming-pinterest-{k}", outcome="written")
                    for k in rows
                )
                dead = _metric(
                    text, "pinpipe_stream_records_total", stream="streaming-pinterest-user", outcome="dead_letter"
                )
                return written == 3 and dead == 1

            services.wait_until(all_consumed, timeout=120, what="stream metrics on /metrics")
    finally:
        assert gateway.terminate(timeout=60) in (0, -15, 143)
    settings = get_settings()
    for kind in ("pin", "geo", "user"):
        table = read_table(warehouse_table(settings, "stream", kind))
        assert table is not None and table.column("ind").to_pylist() == [CANONICAL_IND]
