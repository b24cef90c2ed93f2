"""Batch engines behind one small Protocol; picked by name, heavy ones imported only when picked."""

from __future__ import annotations

from pinpipe.engines.base import Cleaned, Engine
from pinpipe.errors import ConfigError
from pinpipe.settings import Settings

ENGINES: tuple[str, ...] = ("duckdb", "spark")


def get_engine(name: str, settings: Settings, *, spark_master: str | None = None) -> Engine:
    """The engine called ``name``: ``duckdb`` (embedded) or ``spark`` (``--spark-master``, else settings)."""
    if name == "duckdb":
        from pinpipe.engines.duckdb import DuckDBEngine

        return DuckDBEngine(memory_limit=settings.duckdb_memory_limit)
    if name == "spark":
        from pinpipe.engines.spark import SparkEngine

        return SparkEngine(settings, master=spark_master or settings.spark_master)
    raise ConfigError(f"unknown engine {name!r}", hint="use one of: " + ", ".join(ENGINES))


__all__ = ["ENGINES", "Cleaned", "Engine", "get_engine"]
