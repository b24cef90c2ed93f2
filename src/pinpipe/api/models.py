"""Wire contracts of the gateway as pydantic models: they document the routes (``response_model``).

Hot routes build their JSON with orjson and return it directly; these models are the schema those
bytes follow, checked by the contract tests.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every error answer (the Kafka REST Proxy's shape; Kinesis routes add ``__type``)."""

    error_code: int
    message: str


# ---------------------------------------------------------------- Kafka REST Proxy v2


class ProduceRecord(BaseModel):
    value: Any
    key: Any | None = None
    partition: int | None = None


class ProduceRequest(BaseModel):
    """``POST /topics/{topic}`` body (parsed with orjson; this model documents it)."""

    records: list[ProduceRecord]


class PartitionOffset(BaseModel):
    partition: int
    offset: int
    error_code: int | None = None
    error: str | None = None


class ProduceResponse(BaseModel):
    key_schema_id: int | None = None
    value_schema_id: int | None = None
    offsets: list[PartitionOffset]


class Replica(BaseModel):
    broker: int = 0
    leader: bool = True
    in_sync: bool = True


class TopicPartitionInfo(BaseModel):
    partition: int
    leader: int = 0
    replicas: list[Replica] = Field(default_factory=lambda: [Replica()])


class TopicInfo(BaseModel):
    name: str
    configs: dict[str, str] = Field(default_factory=dict)
    partitions: list[TopicPartitionInfo]


# ---------------------------------------------------------------- Kinesis through API Gateway


class PutRecordRequest(BaseModel):
    """``PUT /streams/{stream}/record`` body; ``Data`` is the row (JSON) or base64 bytes."""

    StreamName: str | None = None
    Data: Any
    PartitionKey: str


class PutRecordsEntry(BaseModel):
    Data: Any
    PartitionKey: str


class PutRecordsRequest(BaseModel):
    StreamName: str | None = None
    Records: list[PutRecordsEntry]


class PutRecordResponse(BaseModel):
    SequenceNumber: str
    ShardId: str


class PutRecordsResultEntry(BaseModel):
    SequenceNumber: str | None = None
    ShardId: str | None = None
    ErrorCode: str | None = None
    ErrorMessage: str | None = None


class PutRecordsResponse(BaseModel):
    FailedRecordCount: int
    Records: list[PutRecordsResultEntry]


class CreateStreamRequest(BaseModel):
    ShardCount: int | None = Field(None, ge=1, le=1024)


class StreamList(BaseModel):
    StreamNames: list[str]
    HasMoreStreams: bool = False


class Shard(BaseModel):
    ShardId: str


class StreamDescriptionBody(BaseModel):
    StreamName: str
    StreamStatus: str
    Shards: list[Shard]
    HasMoreShards: bool = False


class StreamDescription(BaseModel):
    StreamDescription: StreamDescriptionBody


class StreamDeleted(BaseModel):
    StreamName: str
    StreamStatus: str = "DELETING"


# ---------------------------------------------------------------- health


class Health(BaseModel):
    status: str
    version: str
    log: str
    stream_log: str
    topics: int | None = None
    error: str | None = None
