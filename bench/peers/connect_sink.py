"""Peer benchmark: pinpipe's lake sink against Kafka Connect, the same topic of the same broker, same run.

``python bench/peers/connect_sink.py [--records N]``. One Apache Kafka broker (KRaft, from the jar
cache) holds N pin rows in 4 partitions. pinpipe's sink (``LakeSink``, flush size 1,000, as
``pinpipe sink run --until-idle``) drains it into a local lake; then Kafka Connect standalone
(``connect-runtime`` with Kafka's ``FileStreamSinkConnector``: the strongest sink connector Maven
Central serves here — Confluent's, Aiven's and Camel's S3 sinks are not on it) drains it into a file,
configured as its quickstart does (``StringConverter`` so a value is copied as the text it is, one
task: the file sink takes no more). Both outputs must hold exactly the values the topic holds.

How each is timed (in the peer's favour where they differ): pinpipe from its partitions being
assigned to every record committed in the lake (its own clock); Connect from the first byte of its
output file to the last line (polled from outside: its JVM start and group join are left out). The
file sink does less per record: one file for all partitions, no fsync, no per-partition layout.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.services import free_port, wait_until
from tests.support.kafka import die_with_parent, java, start_cluster

from bench._common import Metric, Result, at_least
from bench.sink import drain, fill
from pinpipe.jvm import classpath, default_jars_dir

TOPIC = "bench.pin"
PARTITIONS = 4
GOAL = 1.5  # issue 21: pinpipe's sink at least 1.5x Kafka Connect's records/s
RUNS = 3  # each sink drains the topic this many times (a fresh group each), interleaved: medians compared
CONNECT_SET = "kafka-connect"


def connect_properties(work: Path, bootstrap: str, out: Path) -> tuple[Path, Path]:
    worker = {
        "bootstrap.servers": bootstrap,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "offset.storage.file.filename": str(work / "connect.offsets"),
        "listeners": f"http://127.0.0.1:{free_port()}",
    }
    connector = {
        "name": f"bench-file-sink-{work.name}",  # its consumer group is connect-<name>: one per run
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "tasks.max": "1",
        "topics": TOPIC,
        "file": str(out),
    }
    paths = (work / "connect-worker.properties", work / "connect-file-sink.properties")
    for path, props in zip(paths, (worker, connector), strict=True):
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return paths


def connect_sink(work: Path, bootstrap: str, records: int) -> dict[str, float]:
    """Kafka Connect standalone until its file holds ``records`` lines; the file sink never stops by itself."""
    out = work / "connect-out.txt"
    worker, connector = connect_properties(work, bootstrap, out)
    jars = classpath(CONNECT_SET, Path(os.environ.get("PINPIPE_JARS_DIR") or default_jars_dir()))
    log = (work / "connect.log").open("wb")
    started = time.perf_counter()
    proc = subprocess.Popen([java(), "-Xmx1g", "-cp", jars, "org.apache.kafka.connect.cli.ConnectStandalone",
                             str(worker), str(connector)], stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)  # fmt: skip
    lines, first, seen = 0, 0.0, 0
    try:
        wait_until(lambda: (out.exists() and out.stat().st_size > 0) or proc.poll() is not None, timeout=180,
                   what="Kafka Connect's first output", interval=0.01)  # fmt: skip
        first = time.perf_counter()
        with out.open("rb") as handle:

            def all_lines() -> bool:
                nonlocal lines, seen
                chunk = handle.read()
                seen += len(chunk)
                lines += chunk.count(b"\n")
                if proc.poll() is not None:
                    raise RuntimeError(f"Kafka Connect exited {proc.returncode}: see {work / 'connect.log'}")
                return lines >= records

            wait_until(all_lines, timeout=1800, what=f"{records:,} lines from Kafka Connect", interval=0.05)
        done = time.perf_counter()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    return {"records": lines, "elapsed_s": done - first, "from_start_s": done - started, "bytes": seen}


def lines_digest(lines: list[bytes]) -> str:
    """The values as a multiset: same digest, same records (any order, any file)."""
    return hashlib.sha256(b"\n".join(sorted(lines))).hexdigest()


def lake_lines(lake: Path) -> list[bytes]:
    """The records of every lake file (a blank line is an offset without one: a transaction's marker)."""
    return [line for path in sorted(lake.rglob("*.json")) for line in path.read_bytes().splitlines() if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    args = parser.parse_args(argv)
    result = Result(
        bench="peers_connect",
        title="Lake sink vs Kafka Connect (standalone, file sink), same topic, same broker",
        command=f"python bench/peers/connect_sink.py --records {args.records}",
    )
    with tempfile.TemporaryDirectory(prefix="pinpipe-bench-connect-") as tmp:
        work = Path(tmp)
        cluster = start_cluster(work / "kafka")
        try:
            kafka_url = cluster.url
            mean_bytes = fill(kafka_url, args.records, partitions=PARTITIONS)
            runs: list[tuple[dict[str, float], dict[str, float]]] = []
            for i in range(RUNS):  # interleaved, so both meet the same machine state
                # the sink in a fresh process (bench/sink.py's child), timed from its assignment
                ours, _ = drain(kafka_url, work / f"lake-{i}", f"bench-peers-pinpipe-{i}", "none")
                (work / f"connect-{i}").mkdir()
                theirs = connect_sink(work / f"connect-{i}", cluster.bootstrap, args.records)
                ours_digest = lines_digest(lake_lines(work / f"lake-{i}"))
                theirs_digest = lines_digest((work / f"connect-{i}" / "connect-out.txt").read_bytes().splitlines())
                if ours["records"] != args.records or theirs["records"] != args.records or ours_digest != theirs_digest:
                    print(f"outputs differ: pinpipe {ours['records']} records, Kafka Connect {theirs['records']} "
                          f"lines, same values: {ours_digest == theirs_digest}", file=sys.stderr)  # fmt: skip
                    return 1
                runs.append((ours, theirs))
                shutil.rmtree(work / f"lake-{i}")
                (work / f"connect-{i}" / "connect-out.txt").unlink()
        finally:
            cluster.stop_all()
    ours_rates = sorted(args.records / ours["from_assignment_s"] for ours, _ in runs)
    theirs_rates = sorted(args.records / theirs["elapsed_s"] for _, theirs in runs)
    ours_rate, theirs_rate = ours_rates[RUNS // 2], theirs_rates[RUNS // 2]
    ours = runs[-1][0]
    theirs = runs[-1][1]
    share = ours_rate / theirs_rate
    target, ok = at_least(share, GOAL)
    result.add(Metric(f"pinpipe sink (median of {RUNS})", ours_rate, "records/s"))
    result.add(Metric(f"Kafka Connect, FileStreamSinkConnector (median of {RUNS})", theirs_rate, "records/s"))
    result.notes.append(
        "Each run, records/s: pinpipe "
        + ", ".join(f"{r:,.0f}" for r in ours_rates)
        + "; Kafka Connect "
        + ", ".join(f"{r:,.0f}" for r in theirs_rates)
        + "."
    )
    result.add(Metric("pinpipe / Kafka Connect", share, "×", target, ok, baseline="Kafka Connect file sink",
                      baseline_value=theirs_rate, ratio=share))  # fmt: skip
    result.add(Metric("Kafka Connect incl. its JVM start and group join (last run)",
                      args.records / theirs["from_start_s"], "records/s"))  # fmt: skip
    result.add(Metric("peak RSS of the pinpipe sink (last run)", ours["peak_rss_mb"], "MB"))
    result.notes.append(
        f"{args.records:,} pin rows of {mean_bytes:.0f} bytes mean JSON in {PARTITIONS} partitions of one Apache "
        "Kafka broker (KRaft, from the jar cache). Both outputs hold the same values (the digest of their sorted "
        "lines is equal). pinpipe: flush size 1,000, daily partitioner, files fsynced and committed with their "
        "offsets; timed from its assignment. Kafka Connect: one task, StringConverter, defaults otherwise (no "
        f"fsync, one file); timed from its first output byte. Each drains the topic {RUNS} times, interleaved."
    )
    print(f"pinpipe {ours_rate:,.0f} records/s, Kafka Connect {theirs_rate:,.0f} records/s: {share:.2f}x")
    print(f"wrote {result.write()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
