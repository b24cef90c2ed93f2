"""Kinesis-through-API-Gateway routes with the seed client's exact bodies; acked = readable, in order."""

from __future__ import annotations

import base64
import json

import httpx

from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings
from tests.api.conftest import AMZ_JSON, read_back

USER_ROW = {"ind": 7528, "first_name": "Abigail", "last_name": "Ali", "age": 20, "date_joined": "2015-10-24 11:23:51"}


def test_seed_put_record_is_acknowledged_and_reads_back(
    client: httpx.Client, log: EmbeddedLog, settings: Settings
) -> None:
    stream = settings.stream("user")
    sequence = []
    for i in range(5):
        row = {**USER_ROW, "ind": i}
        body = json.dumps({"StreamName": stream, "Data": row, "PartitionKey": "partition-1"})
        response = client.put(f"/streams/{stream}/record", content=body, headers=AMZ_JSON)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["ShardId"] == "shardId-000000000000"
        sequence.append(answer["SequenceNumber"])
    assert sequence == ["0", "1", "2", "3", "4"]
    stored = read_back(log, stream)
    assert [json.loads(stored[(0, int(s))])["ind"] for s in sequence] == [0, 1, 2, 3, 4]
    assert json.loads(stored[(0, 0)]) == {**USER_ROW, "ind": 0}


def test_amz_json_content_type_and_base64_data(client: httpx.Client, log: EmbeddedLog) -> None:
    raw = b'{"ind": 1, "country": "Korea"}'
    body = json.dumps({"Data": base64.b64encode(raw).decode(), "PartitionKey": "k"})
    response = client.put(
        "/streams/streaming-pinterest-geo/record",
        content=body,
        headers={"Content-Type": "application/x-amz-json-1.1"},
    )
    assert response.status_code == 200
    assert read_back(log, "streaming-pinterest-geo") == {(0, 0): raw}


def test_put_records_is_all_acknowledged_in_order(client: httpx.Client, log: EmbeddedLog) -> None:
    stream = "streaming-pinterest-pin"
    rows = [{"index": i, "category": "travel"} for i in range(30)]
    body = json.dumps({"StreamName": stream, "Records": [{"Data": r, "PartitionKey": "partition-1"} for r in rows]})
    response = client.put(f"/streams/{stream}/records", content=body, headers=AMZ_JSON)
    assert response.status_code == 200
    answer = response.json()
    assert answer["FailedRecordCount"] == 0
    positions = [(int(r["ShardId"].removeprefix("shardId-")), int(r["SequenceNumber"])) for r in answer["Records"]]
    assert positions == [(0, i) for i in range(30)]
    stored = read_back(log, stream)
    assert [json.loads(stored[p]) for p in positions] == rows


def test_partition_keys_spread_over_shards_and_stay_stable(make_client: object) -> None:
    http: httpx.Client = make_client(partitions=4)
    stream = "streaming-pinterest-pin"
    records = [{"Data": {"i": i}, "PartitionKey": f"key-{i % 8}"} for i in range(64)]
    answer = http.put(f"/streams/{stream}/records", content=json.dumps({"Records": records}), headers=AMZ_JSON).json()
    shard_of_key: dict[str, str] = {}
    for record, result in zip(records, answer["Records"], strict=True):
        assert shard_of_key.setdefault(record["PartitionKey"], result["ShardId"]) == result["ShardId"]
    assert len(set(shard_of_key.values())) > 1
    description = http.get(f"/streams/{stream}").json()["StreamDescription"]
    assert [s["ShardId"] for s in description["Shards"]] == [f"shardId-{p:012d}" for p in range(4)]


def test_stream_lifecycle(client: httpx.Client, log: EmbeddedLog) -> None:
    assert {"streaming-pinterest-pin", "streaming-pinterest-geo", "streaming-pinterest-user"} <= set(
        client.get("/streams").json()["StreamNames"]
    )
    created = client.post("/streams/extra-stream", content=json.dumps({"ShardCount": 3}), headers=AMZ_JSON)
    assert created.status_code == 200
    assert created.json()["StreamDescription"]["StreamStatus"] == "ACTIVE"
    assert log.topics()["extra-stream"] == 3
    again = client.post("/streams/extra-stream", content=json.dumps({"ShardCount": 3}), headers=AMZ_JSON)
    assert again.status_code == 400
    assert again.json()["__type"] == "ResourceInUseException"
    no_body = client.post("/streams/default-shards")
    assert no_body.status_code == 200
    assert len(no_body.json()["StreamDescription"]["Shards"]) == 1
    put = client.put("/streams/extra-stream/record", content=json.dumps({"Data": {"a": 1}, "PartitionKey": "p"}))
    assert put.status_code == 415  # no content type
    deleted = client.delete("/streams/extra-stream")
    assert deleted.status_code == 200
    assert "extra-stream" not in log.topics()
    gone = client.get("/streams/extra-stream")
    assert gone.status_code == 404
    assert gone.json()["error_code"] == 40401
    assert gone.json()["__type"] == "ResourceNotFoundException"
    assert client.delete("/streams/extra-stream").status_code == 404
