"""schemathesis against the real gateway's own OpenAPI document: no 5xx, no crash, every error JSON.

The gateway runs as ``pinpipe api`` (a subprocess, as users run it). Every operation of its OpenAPI
is fuzzed in both of schemathesis' modes (positive: requests the schema allows; negative: requests it
forbids), once with generated path names (mostly unknown or invalid topics) and once with the names
of the pinpipe topics and streams, so generated records really reach the event log. Hypothesis is
derandomised, so a run is repeatable; the number of requests sent is counted and must reach 1,000.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.support.gateway import GatewayURL

pytestmark = [pytest.mark.services, pytest.mark.timeout(420)]

EXAMPLES = 100  # per (operation, mode, naming); parameterless GETs exhaust after a few
REAL_NAMES = {"topic": "pinterest.pin", "stream": "streaming-pinterest-geo"}


def fuzz(schema: schemathesis.BaseSchema, base_url: str, outcomes: dict[int, int], failures: list[str]) -> int:
    """Run every operation × mode × naming; returns the number of requests sent."""
    sent = 0
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        params = [p for p in ("topic", "stream") if "{" + p + "}" in operation.path]
        namings = [None] + ([{p: REAL_NAMES[p] for p in params}] if params and operation.method != "delete" else [])
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for names in namings:
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=names)

                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def run(case: schemathesis.Case) -> None:
                    nonlocal sent
                    response = case.call(base_url=base_url, session=session, timeout=30)
                    sent += 1
                    outcomes[response.status_code] = outcomes.get(response.status_code, 0) + 1
                    where = f"{case.method} {case.formatted_path} ({case.meta})"
                    if response.status_code >= 500:
                        failures.append(f"{where}: {response.status_code} {response.text[:300]}")
                    elif response.status_code >= 400:
                        try:
                            body = response.json()
                        except ValueError:
                            failures.append(f"{where}: {response.status_code} with a non-JSON body")
                            return
                        if not (isinstance(body, dict) and isinstance(body.get("message"), str)):
                            failures.append(f"{where}: error without a message: {response.text[:200]}")

                try:
                    run()
                except Exception as exc:  # a generation problem must not hide the other operations
                    if "Unsatisfiable" not in type(exc).__name__:
                        raise
    session.close()
    return sent


def test_fuzzed_gateway_never_answers_5xx(gateway: GatewayURL, tmp_path: Path) -> None:
    document = httpx.get(f"{gateway}/openapi.json", timeout=10).json()
    (tmp_path / "openapi.json").write_text(json.dumps(document))
    schema = schemathesis.openapi.from_dict(document)
    outcomes: dict[int, int] = {}
    failures: list[str] = []
    sent = fuzz(schema, gateway, outcomes, failures)
    print(f"schemathesis: {sent} requests, statuses {dict(sorted(outcomes.items()))}")
    assert not failures, f"{len(failures)} bad answers, e.g.:\n" + "\n".join(failures[:10])
    assert sent >= 1000
    assert gateway.proc.poll() is None, "the gateway died under fuzzing"
    assert httpx.get(f"{gateway}/health", timeout=10).status_code == 200
    # The write path was reached: some generated records were acknowledged.
    assert outcomes.get(200, 0) > 50
