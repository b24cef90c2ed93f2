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
    # A leak guard, loose on purpose (the 3-minute figure is the one compared with 10 %): an absolute
    # ceiling. What the gateway holds at once is bounded by the client's requests in flight (64 x 200
    # records), so its RSS has a ceiling whatever the machine does; a stall of the log's fsync only
    # queues up to that bound (a CI run: 75 -> 108 MB in a last window whose p99 was 881 ms, a ratio of
    # the thirds' ceilings of 0.45), while a leak of even 100 bytes per record would add ~100 MB over the
    # run's million records. Measured ceilings: 108-120 MB.
    assert result["rss_mb_max"] < 200, result["by_10s"]
