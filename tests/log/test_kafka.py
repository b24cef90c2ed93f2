"""The Kafka event log on Apache Kafka (and one case on Tansu): what the contract suite does not cover."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pinpipe.errors import BackendUnavailableError, ConfigError
from pinpipe.log import OutRecord, Record, TopicPartition
from pinpipe.log import kafka as kafka_module
from pinpipe.log.base import GroupJoinTimeoutError
from pinpipe.log.kafka import FETCH_QUEUE_BACKOFF_MS, KafkaConsumer, KafkaLog, client_configs, rebalance_bound_s
from tests import services
from tests.log.test_contract import KAFKA_TEST_SETTINGS, read_at_least, settings_for, unique
from tests.support import kafka as kafka_support

pytestmark = pytest.mark.services


@pytest.fixture
def log(kafka: kafka_support.KafkaCluster, home: Path) -> Iterator[KafkaLog]:
    backend = KafkaLog(kafka.url, settings_for(home))
    yield backend
    backend.close()


@pytest.fixture
def tansu_log(tansu: services.Server, home: Path) -> Iterator[KafkaLog]:
    backend = KafkaLog(tansu.url, settings_for(home, "tansu"))
    yield backend
    backend.close()


def test_two_members_share_partitions_and_read_each_offset_once(log: KafkaLog) -> None:
    topic, group = unique("kafka-share"), unique("g")
    log.create_topic(topic, 4)
    first, second = log.consumer(group, [topic]), log.consumer(group, [topic])
    try:
        # Let the group settle before anything is written, so no partition changes hands mid-read
        # (a handover re-delivers uncommitted records: at-least-once, not what this test is about).
        deadline_reads = 0
        while not (first.assignment() and second.assignment()) or (first.assignment() | second.assignment()) != {
            TopicPartition(topic, p) for p in range(4)
        }:
            assert first.poll(timeout_s=0.2) == [] and second.poll(timeout_s=0.2) == []
            deadline_reads += 1
            assert deadline_reads < 150, "the group never shared the 4 partitions"
        assert not first.assignment() & second.assignment()

        appended = log.append(topic, [OutRecord(f"r{i}".encode(), key=f"k{i}".encode()) for i in range(200)])
        assert {a.partition for a in appended} == {0, 1, 2, 3}
        got: list[tuple[int, int]] = []
        for _ in range(300):
            if len(got) >= 200:
                break
            for member in (first, second):
                records = member.poll(timeout_s=0.1)
                assert {r.tp for r in records} <= member.assignment()
                got.extend((r.partition, r.offset) for r in records)
    finally:
        first.close()
        second.close()
    assert sorted(got) == sorted((a.partition, a.offset) for a in appended)  # every offset, exactly once


def poll_until(members: list[KafkaConsumer], check: Callable[[], bool], what: str, polls: int = 200) -> None:
    """Joins happen inside ``poll``: poll every member until ``check`` holds, a bounded number of times."""
    for _ in range(polls):
        if check():
            return
        for member in members:
            member.poll(timeout_s=0.1)
    raise AssertionError(f"{what}: not after {polls} rounds of polls")


def test_a_member_the_group_gives_no_partitions_is_joined_with_none(log: KafkaLog) -> None:
    """More members than partitions: the spare member knows it has nothing to read (so a sink or
    stream run --until-idle on it returns instead of waiting for partitions that never come)."""
    topic, group = unique("kafka-spare"), unique("g")
    log.create_topic(topic, 1)
    first, second = log.consumer(group, [topic]), log.consumer(group, [topic])
    try:
        assert not first.joined()  # nothing settled before the first poll
        members, only = [first, second], {TopicPartition(topic, 0)}
        poll_until(
            members,
            lambda: all(m.joined() for m in members) and first.assignment() | second.assignment() == only,
            "both members joined, the partition owned",
        )
        owner, spare = (first, second) if first.assignment() else (second, first)
        assert owner.assignment() == {TopicPartition(topic, 0)}
        assert spare.joined() and spare.assignment() == set() and spare.lag() == {}
    finally:
        first.close()
        second.close()


def test_the_revoke_hook_runs_while_the_member_owns_its_partitions_and_its_commit_reaches_the_next(
    log: KafkaLog,
) -> None:
    """The sink overlaps writing with polling on Kafka because of this: when a member joins, the first
    member's hook is called inside its ``poll`` with every partition it is giving up, while they are
    still its own, and what it commits there is where the next owner starts."""
    topic, group = unique("kafka-revoke"), unique("g")
    log.create_topic(topic, 2)
    log.append(topic, [OutRecord(f"r{i}".encode(), partition=i % 2) for i in range(20)])
    everything = {TopicPartition(topic, 0), TopicPartition(topic, 1)}
    seen: list[tuple[set[TopicPartition], set[TopicPartition]]] = []

    def on_revoke(leaving: set[TopicPartition]) -> None:
        seen.append((leaving, first.assignment()))
        first.commit(dict.fromkeys(leaving, 4))  # as the sink commits the files it made durable

    first = log.consumer(group, [topic], on_revoke=on_revoke)
    try:
        read_at_least(first, 20)
    except BaseException:
        first.close()
        raise
    assert first.assignment() == everything and seen == []
    second = log.consumer(group, [topic])  # a member joins (subscribing is joining)
    try:
        records: list[Record] = []
        for _ in range(300):  # joins happen inside poll: both members keep polling (bounded)
            first.poll(timeout_s=0.1)
            records += second.poll(timeout_s=0.1)
            if records:
                break
    finally:
        first.close()
        second.close()
    assert seen and seen[0] == (everything, everything)  # all of them (eager), while still owned
    assert records, "the second member never read"
    firsts = {p: min(r.offset for r in records if r.partition == p) for p in {r.partition for r in records}}
    assert set(firsts.values()) == {4}  # where the hook committed, not the earliest


def test_a_revoke_hook_that_fails_fails_the_poll_and_leaves_the_client_usable(log: KafkaLog) -> None:
    """The sink's hook raises when it cannot make its files durable: that error comes out of ``poll``
    (not swallowed inside librdkafka's callback), the partitions are still given up, and the member can
    go on polling and close cleanly."""
    topic, group = unique("kafka-revoke-fails"), unique("g")
    log.create_topic(topic, 2)
    log.append(topic, [OutRecord(b"r", partition=p) for p in (0, 1)])

    def on_revoke(leaving: set[TopicPartition]) -> None:
        raise RuntimeError("the lake's disk went away")

    first = log.consumer(group, [topic], on_revoke=on_revoke)
    second = None
    try:
        read_at_least(first, 2)
        second = log.consumer(group, [topic])
        with pytest.raises(RuntimeError, match="disk went away"):
            for _ in range(300):  # joins happen inside poll: both members keep polling (bounded)
                first.poll(timeout_s=0.1)
                second.poll(timeout_s=0.1)
        poll_until([first, second], lambda: bool(first.assignment() and second.assignment()), "the group shared")
    finally:
        first.close()
        if second is not None:
            second.close()


def test_a_rebalance_that_never_completes_is_an_error_not_a_hang(tansu_log: KafkaLog) -> None:
    """The bounded join, against a coordinator that really gets stuck: Tansu 0.6.0's (pinned), when
    the follower leaves and then at once the leader while the group re-forms; it keeps the departed
    leader and every later member waits for a SyncGroup that never comes. Apache Kafka replaces
    such a leader, so only Tansu can show this cheaply."""
    log = tansu_log
    topic, group = unique("kafka-stuck"), unique("g")
    log.create_topic(topic, 2)
    leader = log.consumer(group, [topic])
    poll_until([leader], leader.joined, "the first member (the leader) joined")
    follower = log.consumer(group, [topic])
    poll_until([leader, follower], lambda: bool(leader.assignment()) and bool(follower.assignment()), "shared")
    follower.close()
    leader.close()
    late = KafkaConsumer(log, group, [topic], join_timeout_s=8.0)
    try:
        with pytest.raises(GroupJoinTimeoutError, match=f"consumer group '{group}' gave this member no partitions"):
            for _ in range(60):
                late.poll(timeout_s=0.5)
        assert not late.joined()
    finally:
        late.close()


def test_the_join_deadline_is_the_groups_own_bound() -> None:
    """session.timeout.ms + max.poll.interval.ms (the rebalance timeout), librdkafka's defaults when unset."""
    tuned = client_configs("kafka://a:9092", KAFKA_TEST_SETTINGS)[1]
    default = client_configs("kafka://a:9092", {})[1]
    assert rebalance_bound_s(tuned) == (6000 + 30000) / 1000
    assert rebalance_bound_s(default) == (45_000 + 300_000) / 1000


def test_seek_before_the_assignment_applies_when_it_arrives(log: KafkaLog) -> None:
    topic = unique("kafka-early-seek")
    log.create_topic(topic, 2)
    appended = log.append(topic, [OutRecord(f"r{i}".encode(), partition=i % 2) for i in range(10)])
    consumer = log.consumer(unique("g"), [topic])
    try:
        assert consumer.assignment() == set()  # nothing assigned before the first poll joins the group
        consumer.seek(TopicPartition(topic, 1), 3)
        got = read_at_least(consumer, 5 + 2)
    finally:
        consumer.close()
    assert sorted((r.partition, r.offset) for r in got) == [(0, o) for o in range(5)] + [(1, 3), (1, 4)]
    assert {(a.partition, a.offset) for a in appended} >= {(r.partition, r.offset) for r in got}


def test_end_offsets_are_exact_after_multi_record_batches(log: KafkaLog, home: Path) -> None:
    """ListOffsets(latest) after batches (Tansu 0.6.0 answers the last batch's base offset + 1);
    without transactions, whose markers take offsets of their own."""
    topic = unique("kafka-ends")
    log.create_topic(topic, 1)
    with KafkaLog(log.url, settings_for(home).model_copy(update={"kafka_transactions": False})) as plain:
        plain.append(topic, [OutRecord(b"x", partition=0)] * 300)
        plain.append(topic, [OutRecord(b"y", partition=0)] * 300)
        assert plain.end_offsets(topic) == {0: 600}


def test_timestamps_come_from_the_message(log: KafkaLog) -> None:
    topic = unique("kafka-ts")
    log.create_topic(topic, 1)
    log.append(topic, [OutRecord(b"x")])
    consumer = log.consumer(unique("g"), [topic])
    try:
        (record,) = read_at_least(consumer, 1)
    finally:
        consumer.close()
    assert record.timestamp_ms > 1_600_000_000_000  # CreateTime in UTC ms, never "not available" (-1)


def test_a_broker_that_is_down_is_a_backend_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_module, "METADATA_TIMEOUT_S", 1.0)
    log = KafkaLog(f"kafka://127.0.0.1:{services.free_port()}", settings_for(home))
    try:
        with pytest.raises(BackendUnavailableError, match="could not list topics"):
            log.append("anything", [OutRecord(b"x")])
    finally:
        log.close()


def test_passthrough_settings_cannot_weaken_the_guarantees() -> None:
    user = {
        "acks": "1",
        "enable.idempotence": "false",
        "enable.auto.commit": "true",
        "session.timeout.ms": "6000",
        "linger.ms": "20",
        "security.protocol": "SASL_SSL",
        "sasl.password": "s3cret",
    }
    producer, consumer, admin = client_configs("kafka://a:9092,b:9092", user)
    assert producer["bootstrap.servers"] == "a:9092,b:9092"
    assert (producer["acks"], producer["enable.idempotence"], producer["linger.ms"]) == ("all", True, "20")
    assert consumer["enable.auto.commit"] is False and consumer["auto.offset.reset"] == "earliest"
    # Each client gets only the properties it understands; security goes to all of them.
    assert "session.timeout.ms" in consumer and "session.timeout.ms" not in producer
    assert "linger.ms" not in consumer and "acks" not in admin
    # librdkafka's 1-s pause of a partition whose local queue is full starved the sink: shorter, and the
    # user's own value wins
    assert consumer["fetch.queue.backoff.ms"] == FETCH_QUEUE_BACKOFF_MS < 1000
    assert client_configs("kafka://a:9092", {"fetch.queue.backoff.ms": "500"})[1]["fetch.queue.backoff.ms"] == "500"
    assert all(c["security.protocol"] == "SASL_SSL" and c["sasl.password"] == "s3cret" for c in (producer, admin))


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        ("kafka://127.0.0.1:9092", {"group.protocol": "consumer"}),
        ("kafka://127.0.0.1:9092", {"isolation.level": "read_uncommitted"}),
        ("kafka://user:pw@127.0.0.1:9092", {}),
        ("http://127.0.0.1:9092", {}),
    ],
)
def test_settings_the_log_cannot_honour_are_refused(url: str, extra: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        client_configs(url, extra)
    assert "pw" not in str(caught.value)  # a password in a URL is never echoed


def test_a_broker_lost_after_start_fails_the_append(tmp_path: Path, home: Path) -> None:
    """Delivery reports that never succeed become a BackendUnavailableError (the gateway's 503).
    A broker of its own, SIGKILLed: the session's is shared."""
    cluster = kafka_support.start_cluster(tmp_path / "kafka", size=1)
    settings = settings_for(home).model_copy(update={"kafka": {"delivery.timeout.ms": "2000"}})
    log = KafkaLog(cluster.url, settings)
    try:
        topic = unique("kafka-lost")
        log.create_topic(topic, 1)
        assert log.append(topic, [OutRecord(b"before")])[0].offset == 0
        cluster.kill(1)
        with pytest.raises(BackendUnavailableError, match=f"1 records to '{topic}' not written: .*aborted"):
            log.append(topic, [OutRecord(b"after")])
    finally:
        log.close()
        cluster.stop_all()


def test_topics_get_the_brokers_replication_unless_the_setting_says(
    kafka_cluster: kafka_support.KafkaCluster, home: Path
) -> None:
    """PINPIPE_REPLICATION_FACTOR unset: the broker's default (3 here); set: that many; more replicas
    than brokers: one line naming the setting, not a broker error code."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": kafka_cluster.bootstrap, "logger": kafka_support.QUIET})

    def replicas(topic: str) -> list[int]:
        partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
        return [len(p.replicas) for p in partitions]

    default, two, too_many = unique("rf-default"), unique("rf-two"), unique("rf-four")
    with KafkaLog(kafka_cluster.url, settings_for(home)) as log:
        log.create_topic(default, 2)
    with KafkaLog(kafka_cluster.url, settings_for(home).model_copy(update={"replication_factor": 2})) as log:
        log.create_topic(two, 1)
    with (
        KafkaLog(kafka_cluster.url, settings_for(home).model_copy(update={"replication_factor": 4})) as log,
        pytest.raises(ConfigError, match="PINPIPE_REPLICATION_FACTOR") as caught,
    ):
        log.create_topic(too_many, 1)
    assert replicas(default) == [3, 3] and replicas(two) == [2]
    assert "\n" not in str(caught.value)


class _NoWatermarks:
    """The member's librdkafka consumer, minus its per-partition watermark query: lag must not use it
    (each one waits behind the member's fetch long-poll; 36 partitions made an empty drain take 34 s)."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def get_watermark_offsets(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("lag asked the member's own connection for watermarks, one partition at a time")

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_lag_over_many_partitions_is_one_batch_from_the_admin_client(log: KafkaLog) -> None:
    """Lag of a member owning 3 x 12 partitions: from the committed offsets where it has read nothing,
    from its position where it has, the high watermark as the end — asked as one batch."""
    topics, group = [unique("kafka-lag") for _ in range(3)], unique("g")
    for topic in topics:
        log.create_topic(topic, 12)
    for topic in topics:
        log.append(topic, [OutRecord(f"{topic}-{i}".encode(), partition=i % 12) for i in range(60)])
    member = log.consumer(group, topics)
    try:
        poll_until([member], lambda: len(member.assignment()) == 36, "the member owns all 36 partitions")

        def ends() -> dict[TopicPartition, int]:
            return {TopicPartition(t, p): end for t in topics for p, end in log.end_offsets(t).items()}

        # offsets: the transaction's marker after each partition's 5 records is one, written just after
        # the commit returned
        poll_until([member], lambda: set(ends().values()) == {6}, "every partition's marker is written")
        member._consumer = _NoWatermarks(member._consumer)  # type: ignore[assignment]  # a spy on one method
        first = TopicPartition(topics[0], 0)
        member.commit({first: 2})  # read nothing yet: lag counts from the committed offset
        lag = member.lag()
        assert len(lag) == 36
        assert lag[first] == 6 - 2 and sum(lag.values()) == 36 * 6 - 2
        # The fetch had started at the beginning before that commit, so all 180 come; then none is behind.
        assert len(read_at_least(member, 3 * 60)) == 3 * 60
        assert member.lag() == dict.fromkeys(lag, 0)
    finally:
        member.close()
