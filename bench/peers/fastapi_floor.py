"""Peer benchmark: pinpipe's gateway against the framework's floor, single-record POSTs, same run.

``python bench/peers/fastapi_floor.py``. The floor is :mod:`bench.peers.trivial_gateway` (FastAPI
parsing the same Kafka REST v2 body and answering offsets without writing anything), served as pinpipe's
gateway is (uvicorn, one worker, uvloop, httptools). pinpipe's gateway runs on its embedded log, so every
200 it gives is a record made durable. wrk drives both with the same body at 8 and at 64 connections,
10 s each; afterwards the log must hold exactly one record per request pinpipe acknowledged.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.services import free_port, wait_until

from bench._common import Metric, Result, WrkRun, at_least, embedded_gateway, has_wrk, wrk
from pinpipe.source.generator import CANONICAL_PIN as PIN_ROW

CONNECTIONS = (8, 64)
GOAL = 0.7  # issue 21: pinpipe's single-record req/s at least 0.7x the trivial app's
KAFKA_JSON = "application/vnd.kafka.json.v2+json"


def serve_trivial(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.peers.trivial_gateway:app", "--port", str(port),
               "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"]  # fmt: skip
    log = (work / "trivial.log").open("wb")
    proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        import httpx

        try:
            return httpx.get(f"{url}/docs", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=30, what="the trivial FastAPI app")
    return proc, url


def main() -> int:
    if not has_wrk("bench/peers/fastapi_floor.py"):
        return 1
    result = Result(
        bench="peers_fastapi",
        title="Gateway vs the framework's floor (a trivial FastAPI app), single-record POSTs",
        command="python bench/peers/fastapi_floor.py",
    )
    work = Path(tempfile.mkdtemp(prefix="pinpipe-bench-peers-"))
    body = json.dumps({"records": [{"value": PIN_ROW}]}, default=str).encode()
    gateway = embedded_gateway(work)
    runs: dict[tuple[str, int], WrkRun] = {}
    trivial, trivial_url = serve_trivial(work)
    try:
        gateway.start()
        for connections in CONNECTIONS:  # interleaved, so both meet the same machine state
            for name, url in (("pinpipe", gateway.url), ("trivial", trivial_url)):
                runs[name, connections] = wrk(f"{url}/topics/pinterest.pin", work, f"{name}-{connections}", "POST",
                                              KAFKA_JSON, body, connections=connections)  # fmt: skip
    finally:
        trivial.terminate()
        trivial.wait(timeout=30)
        gateway.stop(timeout=60)

    from pinpipe.log import open_log
    from pinpipe.settings import Settings

    log = open_log(f"sqlite:///{work / 'home' / 'log.db'}", Settings(home=work / "home"))
    in_log = sum(log.end_offsets("pinterest.pin").values())
    log.close()
    shutil.rmtree(work, ignore_errors=True)

    for connections in CONNECTIONS:
        ours, floor = runs["pinpipe", connections], runs["trivial", connections]
        for label, run in (("pinpipe gateway", ours), ("trivial FastAPI app", floor)):
            result.add(Metric(f"{connections} connections: {label}", run.rate, "requests/s", None,
                              None if run.bad == 0 else False))  # fmt: skip
            result.add(Metric(f"{connections} connections: {label} p99", run.p99_ms, "ms"))
        share = ours.rate / floor.rate
        target, ok = at_least(share, GOAL)
        result.add(Metric(f"{connections} connections: pinpipe / trivial app", share, "×", target, ok,
                          baseline="trivial FastAPI app", baseline_value=floor.rate, ratio=share))  # fmt: skip
    answered = sum(runs["pinpipe", c].total for c in CONNECTIONS)
    result.notes.append(
        f"wrk -t2 at {' and '.join(map(str, CONNECTIONS))} connections, 10 s per case, on loopback; the body is one "
        f"{len(body)}-byte pin record. Both servers: uvicorn, one worker, uvloop + httptools, no access log. "
        f"pinpipe's log holds {in_log:,} records for the {answered:,} requests wrk saw answered (at most one "
        "more per connection: requests still in flight when wrk stopped were written but not counted)."
    )
    if not answered <= in_log <= answered + sum(CONNECTIONS):
        print(f"the log holds {in_log} records for {answered} answered requests", file=sys.stderr)
        return 1
    print(f"wrote {result.write()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
