"""The test servers themselves start and answer: a broken fixture should fail here, plainly."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests import services
from tests.support.kafka import QUIET, KafkaCluster

pytestmark = pytest.mark.services


@pytest.mark.parametrize("server_fixture", ["mariadb_server", "postgres_server"])
def test_database_server_answers(server_fixture: str, request: pytest.FixtureRequest) -> None:
    server: services.Server = request.getfixturevalue(server_fixture)
    engine = sa.create_engine(server.url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1 + 1")).scalar_one() == 2
    engine.dispose()


@pytest.mark.parametrize("broker", ["kafka", "kafka_cluster", "tansu"])
def test_kafka_brokers_accept_produce_and_consume(broker: str, request: pytest.FixtureRequest) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = request.getfixturevalue(broker).url.removeprefix("kafka://")
    topic = f"svc-check-{broker}"
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": QUIET})
    admin.create_topics([NewTopic(topic, 1, -1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "logger": QUIET})
    producer.produce(topic, b"hello", partition=0)
    assert producer.flush(30) == 0
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "svc", "enable.auto.commit": False, "logger": QUIET}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    msg = consumer.poll(30)
    consumer.close()
    assert msg is not None and msg.error() is None and msg.value() == b"hello"


def test_the_kafka_cluster_replicates_three_ways(kafka_cluster: KafkaCluster) -> None:
    """Three registered brokers; a topic made with the broker's default replication has 3 replicas
    in sync, and min.insync.replicas is 2: what the broker-failure tests rely on."""
    from confluent_kafka.admin import AdminClient, ClusterMetadata, ConfigResource, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_cluster.bootstrap, "logger": QUIET})
    admin.create_topics([NewTopic("svc-replicated", 2, -1)])["svc-replicated"].result(timeout=30)

    answers: list[ClusterMetadata] = []

    def settled() -> bool:
        # A broker that has not yet caught up answers metadata without the topic, with partial partition
        # lists, or without a broker that registered late (a CI run saw brokers [1, 2]): wait (bounded)
        # for an answer that lists three brokers and both partitions, and check that answer.
        answers.append(admin.list_topics(timeout=10))
        topic = answers[-1].topics.get("svc-replicated")
        if topic is None or len(answers[-1].brokers) != 3 or len(topic.partitions) != 2:
            return False
        return all(p.replicas for p in topic.partitions.values())

    services.wait_until(settled, timeout=30, what="the topic's partitions in the metadata")
    metadata = answers[-1]
    assert sorted(metadata.brokers) == [1, 2, 3]
    partitions = metadata.topics["svc-replicated"].partitions.values()
    assert [sorted(p.replicas) for p in partitions] == [[1, 2, 3], [1, 2, 3]]
    resource = ConfigResource(ConfigResource.Type.BROKER, "1")
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["min.insync.replicas"].value == "2"
    assert config["default.replication.factor"].value == "3"


def test_moto_serves_s3_and_kinesis(aws_env: str) -> None:
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="svc-check")
    s3.put_object(Bucket="svc-check", Key="a", Body=b"x")
    assert s3.get_object(Bucket="svc-check", Key="a")["Body"].read() == b"x"
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="svc-check", ShardCount=1)
    described = kinesis.describe_stream(StreamName="svc-check")["StreamDescription"]
    assert described["StreamName"] == "svc-check" and len(described["Shards"]) == 1
