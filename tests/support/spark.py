"""A standalone Spark cluster for tests: one master and two workers from pyspark's own ``bin/spark-class``.

On 127.0.0.1 random ports, each process stopped by its PID; a worker has one core and 1 GB, so the
executors are separate JVMs as on a real cluster and a driver's ``spark.driver.maxResultSize`` is
what it would be there. ``conf_dir`` holds a ``spark-defaults.conf`` for the drivers a test starts
(``SPARK_CONF_DIR``): Spark reads it for every session, pinpipe's included.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests import services
from tests.support.kafka import die_with_parent

WORKERS = 2
WORKER_MEMORY = "1g"

# JVM options for the short Spark applications of the tests (spark-defaults.conf, as a user would set
# them): the client JIT only, one compiler thread. A test's application handles a few thousand records
# and is over in a minute, most of it spent compiling Spark itself: measured on a 400-event batch from
# the CLI, 87 s with the JVM's defaults, 59 s with these (docs/SPARK.md).
SHORT_JOB_JVM = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m -XX:CICompilerCount=1 -XX:+UseParallelGC"
TEST_DEFAULTS = {"spark.driver.extraJavaOptions": SHORT_JOB_JVM, "spark.executor.extraJavaOptions": SHORT_JOB_JVM}


def write_spark_defaults(conf_dir: Path, defaults: Mapping[str, str]) -> Path:
    """``conf_dir/spark-defaults.conf`` with :data:`TEST_DEFAULTS` and ``defaults``; returns ``conf_dir``."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    lines = {**TEST_DEFAULTS, **defaults}
    (conf_dir / "spark-defaults.conf").write_text("".join(f"{k} {v}\n" for k, v in lines.items()))
    return conf_dir


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        services.unavailable("a Spark cluster", "pip install 'pinpipe[spark]'")
        raise
    return Path(pyspark.__file__).parent


@dataclass
class SparkCluster:
    master_url: str
    web_port: int
    conf_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def alive_workers(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/json/", timeout=2) as response:
                state = json.load(response)
        except (OSError, ValueError):  # not up yet, or its web UI answering with an empty page while it starts
            return 0
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def driver_env(self, **extra: str) -> dict[str, str]:
        """The environment of a driver process on this cluster (pinpipe's subprocesses)."""
        return {**os.environ, "SPARK_CONF_DIR": str(self.conf_dir), "SPARK_LOCAL_IP": "127.0.0.1", **extra}

    def stop(self) -> None:
        for proc in reversed(self.procs):
            services.stop(proc, timeout=20)


def _spark_class(base: Path, name: str, args: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    script = spark_home() / "bin" / "spark-class"
    with open(base / f"{name}.log", "wb") as out:
        return subprocess.Popen(
            [str(script), *args], stdout=out, stderr=subprocess.STDOUT, env=dict(env), preexec_fn=die_with_parent
        )


def start_cluster(base: Path, defaults: Mapping[str, str]) -> SparkCluster:
    """A master and :data:`WORKERS` workers, every worker registered; drivers get ``defaults``."""
    home = spark_home()
    conf_dir = write_spark_defaults(base / "conf", defaults)
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(base / "logs"),
        "SPARK_WORKER_DIR": str(base / "work"),
        "SPARK_CONF_DIR": str(conf_dir),
    }
    port, web = services.free_port(), services.free_port()
    cluster = SparkCluster(master_url=f"spark://127.0.0.1:{port}", web_port=web, conf_dir=conf_dir)
    master_args = ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port)]
    cluster.procs.append(_spark_class(base, "master", [*master_args, "--webui-port", str(web)], env))
    try:
        services.wait_until(lambda: services.port_open(port), timeout=90, what="Spark master")
        for i in range(WORKERS):
            args = ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1",
                    "--memory", WORKER_MEMORY, "--webui-port", str(services.free_port()),
                    "--work-dir", str(base / f"work-{i}"), cluster.master_url]  # fmt: skip
            cluster.procs.append(_spark_class(base, f"worker-{i}", args, env))
        services.wait_until(lambda: cluster.alive_workers() == WORKERS, timeout=120, what="Spark workers")
    except BaseException:
        cluster.stop()
        raise
    services.STARTED.append(f"Spark standalone cluster (master + {WORKERS} workers) at {cluster.master_url}")
    return cluster


def running_cluster(base: Path, defaults: Mapping[str, str]) -> Iterator[SparkCluster]:
    cluster = start_cluster(base, defaults)
    try:
        yield cluster
    finally:
        cluster.stop()
