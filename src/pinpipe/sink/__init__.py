"""The lake sink connector: event log → raw JSON lake, exactly once (``pinpipe sink run``)."""

from __future__ import annotations

from pinpipe.sink.buffer import Chunk, PartitionBuffer
from pinpipe.sink.sink import SINK_GROUP, LakeSink, SinkConfig, SinkStats, TopicStats

__all__ = ["SINK_GROUP", "Chunk", "LakeSink", "PartitionBuffer", "SinkConfig", "SinkStats", "TopicStats"]
