"""The sink killed (SIGKILL) at 20 seeded moments while records keep arriving, restarted each time:
afterwards every acknowledged record is in the lake exactly once, at its offset, and no temp shows.

Kill moments are chosen from seeded randomness and observed progress (a number of new lake files,
then a small seeded delay; or a seeded delay from process start). The small flush size and idle
flush make the sink cut files by count and by idleness alike, so replays have to re-cut idle files
exactly where the killed run cut them. Correctness is checked only after a clean ``--until-idle``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinpipe.lake.store import open_lake
from pinpipe.log import OutRecord, TopicPartition, open_log
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings
from tests.services import wait_until
from tests.sink.helpers import Expected, assert_exactly_once, fill, lake_files, merge, value

SEED = 20260501
KILLS = 20
SINK_ARGS = ["run", "--flush-size", "500", "--idle-flush-ms", "30"]
TOPICS = {"pinterest.pin": 2, "pinterest.geo": 1, "pinterest.user": 1}


def sink_process(home: Path, *args: str, stderr: Path | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    env["PINPIPE_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "pinpipe.sink", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(stderr, "wb") if stderr else subprocess.DEVNULL,
    )


class Producer(threading.Thread):
    """Appends bursts of random size to random partitions with random pauses (idle gaps), keeping
    what each acknowledged append returned: those records must all reach the lake."""

    def __init__(self, log: EmbeddedLog, rng: random.Random, base: dict[TopicPartition, int]) -> None:
        super().__init__(daemon=True)
        self.log, self.rng, self.base = log, rng, base
        self.stop = threading.Event()
        self.acked: Expected = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                topic = self.rng.choice(sorted(TOPICS))
                partition = self.rng.randrange(TOPICS[topic])
                tp = TopicPartition(topic, partition)
                have = len(self.acked.get(tp, [])) + self.base[tp]
                values = [value(topic, partition, have + i) for i in range(self.rng.randint(1, 1500))]
                appended = self.log.append(topic, [OutRecord(v, partition=partition) for v in values])
                assert [a.offset for a in appended] == list(range(have, have + len(values)))
                self.acked.setdefault(tp, []).extend(values)
                self.stop.wait(self.rng.choice([0, 0, 0.005, 0.08]))  # pacing: makes idle gaps
        except BaseException as exc:  # surfaced by the test
            self.error = exc


def await_kill_moment(rng: random.Random, proc: subprocess.Popen[bytes], lake_dir: Path, files_before: int) -> None:
    """Return at a seeded moment of the sink's life: either a delay from its start (start-up,
    recovery, first files), or once it has written a seeded number of new files, plus a few ms."""
    if rng.random() < 0.3:
        deadline = time.monotonic() + rng.uniform(0.2, 2.5)
        wait_until(lambda: time.monotonic() >= deadline or proc.poll() is not None, timeout=10, what="moment")
        return
    target = files_before + rng.randint(1, 12)
    wait_until(lambda: lake_files(lake_dir) >= target or proc.poll() is not None, timeout=60, what=f"{target} files")
    moment = time.monotonic() + rng.uniform(0, 0.03)
    wait_until(lambda: time.monotonic() >= moment, timeout=1, what="moment", interval=0.001)


@pytest.fixture
def embedded(home: Path) -> Iterator[EmbeddedLog]:
    log = open_log(f"sqlite:///{home / 'log.db'}", Settings(home=home))
    assert isinstance(log, EmbeddedLog)
    yield log
    log.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigkill_at_20_moments_then_every_offset_exactly_once(home: Path, embedded: EmbeddedLog) -> None:
    rng = random.Random(SEED)
    backlog = merge(*(fill(embedded, t, n, 15_000 // n) for t, n in TOPICS.items()))
    producer = Producer(embedded, random.Random(SEED + 1), {tp: len(v) for tp, v in backlog.items()})
    producer.start()
    lake_dir = home / "lake"
    kills = 0
    try:
        while kills < KILLS:
            before = lake_files(lake_dir) if lake_dir.exists() else 0
            proc = sink_process(home, *SINK_ARGS, stderr=home / f"sink-{kills}.err")
            await_kill_moment(rng, proc, lake_dir, before)
            assert proc.poll() is None, "the sink exited by itself"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            proc.stdout.close()
            kills += 1
            assert producer.error is None, producer.error
    finally:
        producer.stop.set()
        producer.join(timeout=60)
    assert producer.error is None, producer.error
    final = sink_process(home, *SINK_ARGS, "--until-idle")
    out, _ = final.communicate(timeout=120)
    assert final.returncode == 0
    assert b"drained:" in out
    expected = merge(backlog, producer.acked)
    assert sum(len(v) for v in expected.values()) > 20_000
    assert_exactly_once(open_lake(str(lake_dir)), expected)
    recovered = sum((home / f"sink-{i}.err").read_bytes().count(b"sink recovered:") for i in range(KILLS))
    print(f"{KILLS} kills; the restarts re-cut {recovered} files left written but uncommitted")
    assert recovered > 0, "no kill landed between a write and its commit: the test proved too little"


@pytest.mark.timeout(120)
def test_sigterm_stops_cleanly_and_the_next_run_completes(home: Path, embedded: EmbeddedLog) -> None:
    expected = merge(*(fill(embedded, t, n, 20_000) for t, n in TOPICS.items()))
    lake_dir = home / "lake"
    proc = sink_process(home, "run", "--flush-size", "100")
    wait_until(lambda: lake_dir.exists() and lake_files(lake_dir) >= 5, timeout=60, what="first files")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and b"stopped:" in out
    final = sink_process(home, "run", "--flush-size", "100", "--until-idle")
    out, _ = final.communicate(timeout=120)
    assert final.returncode == 0 and b"drained:" in out
    assert_exactly_once(open_lake(str(lake_dir)), expected)


@pytest.mark.timeout(120)
def test_a_second_sink_on_the_embedded_log_is_refused(home: Path, embedded: EmbeddedLog, tmp_path: Path) -> None:
    fill(embedded, "pinterest.pin", 1, 10)
    first_err = tmp_path / "first.err"
    first = sink_process(home, "run", stderr=first_err)
    try:
        wait_until(lambda: b"sink assigned" in first_err.read_bytes(), timeout=60, what="first sink running")
        second = subprocess.run(
            [sys.executable, "-m", "pinpipe.sink", "run", "--until-idle"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}, "PINPIPE_HOME": str(home)},
            capture_output=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert b"another sink of group 'pinpipe-sink' is running" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 0
