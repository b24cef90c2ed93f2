"""The known dataset of the report and dashboard tests: the batch tests' thirteen hand-checked events.

Its nine insight tables were worked out by hand (tests/insights/test_hand_checked.py), so the number
of bars each chart must show is known without asking the chart code.
"""

from __future__ import annotations

from pinpipe.batch import run_batch
from pinpipe.settings import Settings, get_settings
from tests.insights.test_hand_checked import EXPECTED, write_lake

#: Dead letters in that lake: one misfit pin row, one geo row on the user topic.
DEAD_LETTERS = 2


def hand_checked_warehouse() -> Settings:
    """Write the hand-checked lake into this test's PINPIPE_HOME and run the batch job over it."""
    settings = get_settings()
    write_lake(settings)
    run_batch(settings, None, "duckdb", progress=lambda _: None)
    return settings


def expected_bars() -> dict[str, int]:
    """Bars per chart: every row of these small tables is drawn (all are under the charts' limits)."""
    return {name: len(rows) for name, rows in EXPECTED.items()}
