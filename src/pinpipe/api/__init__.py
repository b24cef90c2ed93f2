"""The ingestion gateway (`pinpipe api`): Kafka REST v2 and Kinesis routes in front of the event log."""

from pinpipe.api.main import create_app

__all__ = ["create_app"]
