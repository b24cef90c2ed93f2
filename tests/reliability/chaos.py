"""What the chaos tests share: processes that may be SIGKILLed and restarted, emulator load that
keeps going across kills, and the end-state checks (lake offsets, stream tables, leftovers).

Nothing here sleeps to synchronise: kills wait for observed progress (acknowledgements, lake files,
Delta commits) or for a seeded moment after a process start; readiness uses ``wait_until``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pinpipe.emulate import EmulateOptions, RetryPolicy, Summary, run_emulator
from pinpipe.lake.store import open_lake
from pinpipe.log import TopicPartition
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings
from tests.api.conftest import read_back
from tests.services import wait_until
from tests.sink.helpers import Expected, assert_exactly_once, lake_records
from tests.support.acks import AckLog, ind_of, read_all
from tests.support.processes import terminate


class Service:
    """A long-running pinpipe command (``sink run``, ``stream run``) that a test kills and restarts."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], logs: Path) -> None:
        self.name, self.argv, self.env, self.logs = name, list(argv), dict(env), logs
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self.pids: list[int] = []

    @property
    def log_path(self) -> Path:
        return self.logs / f"{self.name}-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.pids.append(self.proc.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited by itself ({self.proc.returncode}): {self.tail()}")
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL
        self.kills += 1

    def terminate(self, timeout: float = 60, *, signalled: bool = False) -> int:
        """SIGTERM (graceful; ``signalled``: already sent) and its exit status."""
        assert self.proc is not None
        return terminate(self.proc, self.name, self.tail, timeout, signalled=signalled)

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""


def await_moment(seconds: float, proc_alive: Callable[[], bool]) -> None:
    """Return ``seconds`` from now (a seeded moment), or as soon as the process is gone."""
    deadline = time.monotonic() + seconds
    wait_until(
        lambda: time.monotonic() >= deadline or not proc_alive(), timeout=seconds + 10, what="moment", interval=0.002
    )


@dataclass(eq=False)
class Load(threading.Thread):
    """One emulator route posting episodes of events until stopped; every acknowledgement is kept."""

    route: str
    source_url: str
    api_url: str
    seed: int
    rate: float
    batch_size: int
    episode_events: int = 400
    prefix: str = "pinterest"
    attempts: int = 40  # per request; 503s with Retry-After 1 s make this about as many seconds of outage
    acks: AckLog = field(default_factory=AckLog)
    summaries: list[Summary] = field(default_factory=list)
    error: BaseException | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True, name=f"load-{self.route}")

    def run(self) -> None:
        episode = 0
        try:
            while not self.stop_event.is_set():
                options = EmulateOptions(
                    route=self.route,
                    source_url=self.source_url,
                    api_url=self.api_url,
                    prefix=self.prefix,
                    events=self.episode_events,
                    seed=self.seed + episode,
                    rate=self.rate,
                    concurrency=4,
                    batch_size=self.batch_size,
                    retry=RetryPolicy(attempts=self.attempts, cap_s=1.0),
                )
                summary = run_emulator(options, on_ack=self.acks)
                self.summaries.append(summary)
                if summary.aborted:
                    raise AssertionError(f"{self.route} emulator aborted: {summary.aborted}")
                episode += 1
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    @property
    def acknowledged(self) -> int:
        return len(self.acks.acked)

    def finish(self, timeout: float = 120) -> None:
        self.stop_event.set()
        self.join(timeout=timeout)
        assert not self.is_alive(), f"{self.route} load did not finish"
        assert self.error is None, self.error


def log_contents(log: EmbeddedLog, topics: Sequence[str]) -> Expected:
    """Every record in the log, per partition in offset order; fails on a gap (offsets are dense)."""
    out: Expected = {}
    for topic in topics:
        stored = read_back(log, topic)
        for partition in {p for p, _ in stored}:
            offsets = sorted(o for p, o in stored if p == partition)
            assert offsets == list(range(len(offsets))), f"{topic}[{partition}]: offsets not dense"
            out[TopicPartition(topic, partition)] = [stored[(partition, o)] for o in offsets]
    return out


def pinpipe_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    env.update(PINPIPE_HOME=str(home), **extra)
    return env


def kafka_log_contents(settings: Settings, topics: list[str], at_least: int) -> dict[TopicPartition, dict[int, bytes]]:
    """What a ``read_committed`` reader finds, by offset (a transaction's marker holds none)."""
    records = read_all(str(settings.log_url), settings, topics, at_least)
    by_tp: dict[TopicPartition, dict[int, bytes]] = {}
    for r in records:
        values = by_tp.setdefault(TopicPartition(r.topic, r.partition), {})
        assert r.offset not in values, f"{r.topic}[{r.partition}]@{r.offset} read twice"
        values[r.offset] = r.value
    return by_tp


def check_lake_holds_each_acknowledged_record_once(
    settings: Settings, topics: Sequence[str], acks: AckLog, lake_dir: Path
) -> dict[TopicPartition, dict[int, bytes]]:
    """After a drain on Kafka: the lake equals the log per partition (each record at its offset, no
    other), every acknowledged record is in it at its acknowledged offset, and no offset was
    acknowledged twice; the log's contents."""
    in_log = kafka_log_contents(settings, list(topics), len(acks.acked))
    lake = open_lake(str(lake_dir))
    assert_exactly_once(lake, in_log)
    in_lake = lake_records(lake)
    assert acks.duplicates == 0
    for (topic, partition, offset), ind in acks.acked.items():
        got = in_lake.get(TopicPartition(topic, partition), {}).get(offset)
        assert got is not None and ind_of(got) == ind, f"acknowledged {topic}[{partition}]@{offset}"
    return in_log
