# Names `make lint`'s dead-code check (vulture, [tool.vulture] in pyproject.toml) cannot see used,
# each with who uses it. This file is read by vulture only; it is never imported.

# dataclass fields set by keyword (bench/_common.Measurement), read by bench/render.py from the JSON
baseline
baseline_value
# pydantic response models: fields are serialised by FastAPI, never read in Python (Kafka REST, Kinesis)
key_schema_id
value_schema_id
in_sync
configs
Data
PartitionKey
SequenceNumber
ShardId
ErrorCode
ErrorMessage
FailedRecordCount
ShardCount
StreamNames
HasMoreStreams
StreamStatus
Shards
HasMoreShards
# uvicorn's --factory entry point for `pinpipe api --workers N` (named as a string)
app_from_environment
# enum members typer offers as choices (--format parquet, --spark-source kinesis, api --log-level)
PARQUET
KINESIS
CRITICAL
ERROR
WARNING
DEBUG
TRACE
# pinpipe.cli._help gives typer's flag options the class that shows them without a type (read by Python)
__class__
# rich Table attributes rich renders
caption
# signatures fixed by a protocol: pydantic-settings' source hook, importlib's finder, __exit__, module __getattr__
settings_customise_sources
dotenv_settings
file_secret_settings
find_spec
exc_type
tb
__getattr__
# aws._resolve's arguments that only key its lru_cache (a changed profile or key resolves anew)
key_id
profile
# uvicorn.Server's stop flag, set by the test harnesses
should_exit
# fixtures requested for their effect, not their value
spark_defaults
on_kafka
stream_backend
# tests/log/test_kafka.py: the spy that fails a test if librdkafka is asked per partition
get_watermark_offsets
