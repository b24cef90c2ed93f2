"""`pinpipe sql`: SQL by table name over the warehouse's Delta tables, on DuckDB, on any backend."""

from pinpipe.sql.errors import EmptyWarehouseError, QueryError
from pinpipe.sql.output import DEFAULT_LIMIT, FORMATS, write_result
from pinpipe.sql.session import Result, WarehouseSession
from pinpipe.sql.shell import SqlShell, statement_complete

__all__ = [
    "DEFAULT_LIMIT",
    "FORMATS",
    "EmptyWarehouseError",
    "QueryError",
    "Result",
    "SqlShell",
    "WarehouseSession",
    "statement_complete",
    "write_result",
]
