"""pinpipe: Pinterest-style posting events to clean tables and insights, batch and streaming."""

__version__ = "0.1.0"
