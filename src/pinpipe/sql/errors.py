"""Why a `pinpipe sql` statement failed, as one line a user can act on."""

from __future__ import annotations

import re
from collections.abc import Collection

from pinpipe.errors import PinpipeError
from pinpipe.tables.names import NamedTable

_MISSING_TABLE = re.compile(r"Table with name (\S+?) does not exist")


class QueryError(PinpipeError):
    """DuckDB refused or failed a statement; the message is DuckDB's own, on one line."""


class EmptyWarehouseError(PinpipeError):
    """No table of the warehouse exists yet: there is nothing to query."""


def one_line(message: str) -> str:
    """DuckDB's message without its caret drawing (``LINE 1: …`` and ``^^^``), its lines joined."""
    head = message.split("\nLINE ", 1)[0]
    return " ".join(line.strip() for line in head.splitlines() if line.strip())


def query_error(exc: BaseException, known: dict[str, NamedTable], existing: Collection[str]) -> QueryError:
    """A QueryError for ``exc``; a missing table's hint says what writes it, or which tables there are."""
    message = one_line(str(exc))
    missing = _MISSING_TABLE.search(message)
    hint = None
    if missing:
        name = missing.group(1).strip('"')
        if name in known and name not in existing:
            hint = f"{name} is not in the warehouse yet: `{known[name].written_by}` writes it"
        else:
            hint = "the warehouse has: " + ", ".join(existing)
    return QueryError(message, hint=hint)
