"""Helpers the source tests share: generated events as lists, and rows written as JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from pinpipe.source.generator import generate

Row = dict[str, Any]


def events(rows: int, seed: int = 0) -> tuple[list[Row], list[Row], list[Row]]:
    """All generated rows of ``(rows, seed)`` as three lists (pins, geos, users)."""
    pins: list[Row] = []
    geos: list[Row] = []
    users: list[Row] = []
    for chunk in generate(rows, seed):
        pins += chunk.pins
        geos += chunk.geos
        users += chunk.users
    return pins, geos, users


def _plain(value: Any) -> Any:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else value


def write_jsonl(path: Path, rows: Iterable[Row]) -> Path:
    """Rows as JSON lines, datetimes as the emulators send them; non-ASCII written as is."""
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False) + "\n")
    return path
