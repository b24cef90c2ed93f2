"""Cleaning: the row schemas and rules of each topic, defined once, run by every engine."""

from pinpipe.clean.inprocess import CleanBatch, clean_batch
from pinpipe.clean.schema import CLEAN_SCHEMAS, DEAD_LETTER_SCHEMA, RAW_FIELDS, RAW_RECORD_SCHEMA

__all__ = ["CLEAN_SCHEMAS", "DEAD_LETTER_SCHEMA", "RAW_FIELDS", "RAW_RECORD_SCHEMA", "CleanBatch", "clean_batch"]
