"""A bounded run of tests/reliability/load.py: ~70 % of the capacity measured in the same run, held for
30 s against a real ``pinpipe api``. Asserts errors and counts only (never wall-clock figures); the
latency and RSS figures are printed, and the full 3-minute run is in docs/RELIABILITY.md."""

from __future__ import annotations

import pytest

from tests.reliability import load

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.timeout(180)]


def test_seventy_percent_of_capacity_for_30_s_without_errors(home: object) -> None:
    result = load.main(["--seconds", "30", "--probe-seconds", "5"])
    assert result["errors"] == {}
    assert result["gateway_alive"]
    planned = result["target_records_per_s"] * result["seconds"] / result["records_per_request"]
    # Loose: the schedule was kept for most requests (a busy shared machine may delay a few).
    assert result["requests"] >= planned - 1  # every scheduled request was sent (late ones counted apart)
    assert result["records_acknowledged"] == result["requests"] * result["records_per_request"]
    # A leak guard, loose on purpose (the 3-minute figure is the one compared with 10 %). It compares the
    # RSS ceilings of the first and last thirds after warm-up: a leak raises the ceiling over time, while
    # the first burst of requests in flight raises it once (a CI run saw 76 -> 119 MB in the first 10 s,
    # then flat: end-over-first-sample growth 0.55, high-water growth -0.02).
    growth = result["rss_high_water_growth"]
    assert growth is not None and growth < 0.25
