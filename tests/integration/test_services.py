"""The test servers themselves start and answer: a broken fixture should fail here, plainly."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests import services

pytestmark = pytest.mark.services


@pytest.mark.parametrize("server_fixture", ["mariadb_server", "postgres_server"])
def test_database_server_answers(server_fixture: str, request: pytest.FixtureRequest) -> None:
    server: services.Server = request.getfixturevalue(server_fixture)
    engine = sa.create_engine(server.url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1 + 1")).scalar_one() == 2
    engine.dispose()


def test_tansu_accepts_produce_and_consume(tansu: services.Server) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    bootstrap = tansu.url.removeprefix("kafka://")
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce("svc-check", b"hello", partition=0)
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "svc", "enable.auto.commit": False})
    consumer.assign([TopicPartition("svc-check", 0, 0)])
    msg = consumer.poll(10)
    consumer.close()
    assert msg is not None and msg.error() is None and msg.value() == b"hello"


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
