"""Apache Kafka (KRaft) for tests, started from the ``kafka-broker`` jar set that ``make jars`` fetched.

One node or a cluster of three on 127.0.0.1 random ports, each node its own JVM, stopped by its PID.
Every node is ``broker,controller`` (a combined node, as a laptop or a small cluster runs it) and
the quorum is static (``controller.quorum.voters``), so a SIGKILLed node rejoins from its own log
directory when started again. A node's log4j2 output goes to ``<folder>/node-<id>/server.log``.
"""

from __future__ import annotations

import base64
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pinpipe.jvm import MissingJarsError, default_jars_dir, jar_paths
from tests import services

JAR_SET = "kafka-broker"
#: librdkafka's own lines about a node that is not up yet, kept out of the test output.
QUIET = logging.getLogger("tests.support.kafka.client")
#: The Kafka version of the jar set, for messages and the README (jvm/pom.xml's kafka.version).
START_TIMEOUT_S = 90.0
PR_SET_PDEATHSIG = 1
# A node's heap: enough for the tests' traffic; three nodes plus Spark still fit on the machine.
JVM_OPTS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
)

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the test process dies (a killed pytest leaves no broker)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    candidate = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not candidate or not os.access(candidate, os.X_OK):
        services.unavailable("Apache Kafka", "no java on PATH (apt-get install -y openjdk-17-jre-headless)")
    assert candidate
    return candidate


def broker_classpath() -> str:
    jars_dir = Path(os.environ.get("PINPIPE_JARS_DIR") or default_jars_dir())
    try:
        return os.pathsep.join(str(p) for p in jar_paths(JAR_SET, jars_dir))
    except MissingJarsError as exc:
        services.unavailable("Apache Kafka", str(exc))
        raise


def kafka_version(classpath: str) -> str:
    for jar in classpath.split(os.pathsep):
        name = Path(jar).name
        if name.startswith("kafka_2.13-") and name.endswith(".jar"):
            return name.removeprefix("kafka_2.13-").removesuffix(".jar")
    return "unknown"


@dataclass
class KafkaNode:
    node_id: int
    port: int
    controller_port: int
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def properties(self) -> Path:
        return self.folder / "server.properties"

    @property
    def server_log(self) -> Path:
        return self.folder / "server.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class KafkaCluster:
    """``url`` is what pinpipe takes (``kafka://h:p,h:p``); ``bootstrap`` what a client takes."""

    nodes: list[KafkaNode]
    classpath: str
    version: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, node_id: int) -> None:
        node = self.node(node_id)
        assert not node.alive(), f"Kafka node {node_id} is already running"
        with open(node.folder / "stdout.log", "ab") as out:
            node.proc = subprocess.Popen(
                [
                    java(),
                    *JVM_OPTS,
                    f"-Dlog4j2.configurationFile={node.folder / 'log4j2.properties'}",
                    "-cp",
                    self.classpath,
                    "kafka.Kafka",
                    str(node.properties),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def kill(self, node_id: int) -> None:
        """SIGKILL: the node loses whatever it had not written to its log directory."""
        node = self.node(node_id)
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(timeout=30)

    def stop(self, node_id: int) -> None:
        """SIGTERM: a controlled shutdown (leadership moves away first)."""
        node = self.node(node_id)
        if node.proc is not None:
            services.stop(node.proc, timeout=60)

    def stop_all(self, grace_s: float = 5.0) -> None:
        """SIGTERM every node at once, SIGKILL what is still up after ``grace_s``: a test cluster's
        data is thrown away, so its controlled shutdown (leaders moved, logs closed) is not waited out."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()
        for node in self.nodes:
            if node.proc is not None:
                services.stop(node.proc, timeout=grace_s)

    def brokers_up(self) -> int:
        """How many brokers the cluster's metadata lists (a node counts once it registered)."""
        from confluent_kafka.admin import AdminClient

        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is not None and node.proc.returncode not in (-9, 0, 143):
                tail = node.server_log.read_text(errors="replace")[-3000:] if node.server_log.exists() else ""
                raise RuntimeError(f"Kafka node {node.node_id} exited with {node.proc.returncode}: {tail}")
        live = [f"127.0.0.1:{n.port}" for n in self.nodes if n.alive()]
        if not live or not any(services.port_open(int(b.rsplit(":", 1)[1])) for b in live):
            return 0
        admin = AdminClient(
            {"bootstrap.servers": ",".join(live), "socket.connection.setup.timeout.ms": 1000, "logger": QUIET}
        )
        try:
            return len(admin.list_topics(timeout=1.0).brokers)
        except Exception:
            return 0

    def wait_ready(self, brokers: int | None = None, timeout: float = START_TIMEOUT_S) -> None:
        want = len([n for n in self.nodes if n.alive()]) if brokers is None else brokers
        services.wait_until(lambda: self.brokers_up() >= want, timeout=timeout, what=f"Apache Kafka ({want} brokers)")


def partition_state(cluster: KafkaCluster, topics: list[str]) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) → (leader, in-sync replicas) as the live brokers' metadata has it."""
    from confluent_kafka.admin import AdminClient

    live = ",".join(f"127.0.0.1:{n.port}" for n in cluster.nodes if n.alive())
    admin = AdminClient({"bootstrap.servers": live, "logger": QUIET})
    try:
        metadata = admin.list_topics(timeout=5.0)
    except Exception:
        return {}
    return {
        (t, p): (m.leader, len(m.isrs))
        for t in topics
        if t in metadata.topics
        for p, m in metadata.topics[t].partitions.items()
    }


def node_properties(node: KafkaNode, voters: str, size: int, extra: Mapping[str, str]) -> dict[str, str]:
    """The broker's settings: TOOLING.md's, with replication as a cluster of ``size`` can hold."""
    replicas = min(size, 3)
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.quorum.voters": voters,
        "log.dirs": str(node.folder / "data"),
        "num.partitions": "1",
        "default.replication.factor": str(replicas),
        "min.insync.replicas": str(max(1, replicas - 1)),
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(max(1, replicas - 1)),
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": str(max(1, replicas - 1)),
        # Test speed, not semantics: the internal topics' first use creates fewer partitions, and a
        # new group's first rebalance does not wait 3 s for more members.
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.num.partitions": "4",
        "group.initial.rebalance.delay.ms": "0",
    }
    props.update(extra)
    return props


def new_cluster_id() -> str:
    """A KRaft cluster id as Kafka's own ``Uuid.randomUuid`` makes one: URL-safe base64 of 16 random
    bytes, never starting with ``-`` (the storage tool would read it as an option: 1 start in 64 failed
    with "argument --cluster-id/-t: expected one argument")."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


def new_cluster(base: Path, size: int = 1, extra: Mapping[str, str] | None = None) -> KafkaCluster:
    """Format ``size`` nodes under ``base`` (not started yet)."""
    classpath = broker_classpath()
    nodes = [
        KafkaNode(
            node_id=i + 1,
            port=services.free_port(),
            controller_port=services.free_port(),
            folder=base / f"node-{i + 1}",
        )
        for i in range(size)
    ]
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    cluster_id = new_cluster_id()
    for node in nodes:
        node.folder.mkdir(parents=True)
        props = node_properties(node, voters, size, extra or {})
        node.properties.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (node.folder / "log4j2.properties").write_text(LOG4J2.format(log=node.server_log))

    def format_node(node: KafkaNode) -> None:
        done = subprocess.run(
            [
                java(),
                "-Xmx256m",
                f"-Dlog4j2.configurationFile={node.folder / 'log4j2.properties'}",
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(node.properties),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"kafka-storage format of node {node.node_id} failed: {done.stdout}{done.stderr}")

    with ThreadPoolExecutor(max_workers=size) as pool:
        list(pool.map(format_node, nodes))
    return KafkaCluster(nodes=nodes, classpath=classpath, version=kafka_version(classpath), extra=dict(extra or {}))


def start_cluster(base: Path, size: int = 1, extra: Mapping[str, str] | None = None) -> KafkaCluster:
    """Format and start ``size`` nodes, then wait until every broker is registered."""
    started = time.monotonic()
    cluster = new_cluster(base, size, extra)
    for node in cluster.nodes:  # all before waiting: no broker listens before a quorum exists
        cluster.start(node.node_id)
    try:
        cluster.wait_ready(size)
    except BaseException:
        cluster.stop_all()
        raise
    services.STARTED.append(
        f"Apache Kafka {cluster.version} (KRaft, {size} node{'s' if size > 1 else ''}) on {cluster.bootstrap}"
        f" in {time.monotonic() - started:.1f} s"
    )
    return cluster


def running_cluster(base: Path, size: int = 1) -> Iterator[KafkaCluster]:
    """For session fixtures: start, yield, stop every node."""
    cluster = start_cluster(base, size)
    try:
        yield cluster
    finally:
        cluster.stop_all()
