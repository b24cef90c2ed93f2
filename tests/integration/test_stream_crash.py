"""SIGKILL the stream job at 20 random moments while events flow; every acknowledged event lands once.

The moments come from observed progress, never from sleeps: for each kill a seeded number of new
Delta commits (0 = during start-up) is awaited on the stream tables, then the job gets SIGKILL and is
started again. Bad records are posted through the gateway meanwhile and must reach dead_letter once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from pinpipe.settings import TABLES
from tests import services
from tests.integration.stream_flow import (
    bad_records,
    check_dead_letters_once,
    check_tables_hold_each_acknowledged_ind_once,
    current_settings,
    delta_commits,
    pinpipe,
)
from tests.support.processes import PINPIPE

pytestmark = [pytest.mark.services, pytest.mark.slow]

KILLS = 20
SEED = 20240607
FLOW_SECONDS = 40


def test_sigkill_at_random_moments_loses_and_doubles_nothing(home: Path, gateway: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    pinpipe("source", "init", "--rows", "3000", "--seed", "11")
    settings = current_settings()
    emulator_log = open(tmp_path / "emulator.log", "wb")  # noqa: SIM115 - closed below
    emulator = subprocess.Popen(
        [PINPIPE, "emulate", "stream", "--rate", "150", "--duration", str(FLOW_SECONDS), "--seed", "5",
         "--batch-size", "20", "--api", gateway],
        stdout=emulator_log, stderr=subprocess.STDOUT, env=dict(os.environ),
    )  # fmt: skip
    posted_bad = 0
    job_args = [PINPIPE, "stream", "run", "--quiet", "--max-batch-ms", "100", "--max-batch-records", "2000"]
    try:
        with httpx.Client(base_url=gateway, timeout=10) as client:
            for kill in range(KILLS):
                if kill % 4 == 1:
                    for stream, body in bad_records(settings, kill):
                        response = client.put(f"/streams/{stream}/record", json=body)
                        assert response.status_code == 200, response.text
                        posted_bad += 1
                before = delta_commits(home)
                wanted = rng.choice([0, 1, 1, 2, 3, 5])
                with open(tmp_path / f"job-{kill}.log", "wb") as out:
                    job = subprocess.Popen(job_args, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
                try:
                    if wanted:

                        def progressed(job: subprocess.Popen[bytes] = job, target: int = before + wanted) -> bool:
                            if job.poll() is not None:
                                raise AssertionError(f"stream job exited by itself: {job.returncode}")
                            return delta_commits(home) >= target or emulator.poll() is not None

                        services.wait_until(progressed, timeout=30, what=f"{wanted} commits", interval=0.01)
                finally:
                    job.send_signal(signal.SIGKILL)
                    job.wait(timeout=10)
                assert job.returncode == -signal.SIGKILL
        assert emulator.wait(timeout=FLOW_SECONDS + 60) == 0, (tmp_path / "emulator.log").read_text()[-2000:]
    finally:
        if emulator.poll() is None:
            emulator.kill()
            emulator.wait()
        emulator_log.close()

    pinpipe("stream", "run", "--until-idle", "--quiet")
    records = check_tables_hold_each_acknowledged_ind_once(settings)
    check_dead_letters_once(settings, records, posted_bad)
    # The run after the crashes really had work left, so kills hit a moving stream.
    assert sum(len(records[k]) for k in TABLES) > 3 * 1000
