"""Tables by name for Spark users: the warehouse's Delta tables registered in the session's catalog.

With ``PINPIPE_CATALOG=<database>`` (a Hive metastore: embedded Derby in ``$PINPIPE_HOME/metastore``
unless Spark is configured with a shared one, e.g. on PostgreSQL) or ``<catalog>.<schema>`` (Unity
Catalog on Databricks), each job registers the tables it writes as external Delta tables at their
locations, under the names of :func:`pinpipe.tables.names.catalog_name`. Registration is idempotent
(``IF NOT EXISTS``): the data stays where it is, the catalog only knows it by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pinpipe.settings import Settings
from pinpipe.spark.session import spark_path
from pinpipe.tables.names import catalog_name, named_tables


def _quoted(namespace: str) -> str:
    return ".".join(f"`{part}`" for part in namespace.split("."))


def register_tables(spark: Any, settings: Settings, names: Iterable[str]) -> list[str]:
    """Register the tables ``names`` (``pinpipe sql`` names, e.g. ``batch_pin``) that exist; returns
    their qualified catalog names. Nothing happens when ``PINPIPE_CATALOG`` is not set."""
    namespace = settings.catalog
    if not namespace:
        return []
    known = named_tables(settings)
    jvm = spark.sparkContext._jvm
    spark.sql(f"CREATE {'SCHEMA' if '.' in namespace else 'DATABASE'} IF NOT EXISTS {_quoted(namespace)}")
    registered = []
    for name in names:
        location = spark_path(known[name].location)
        if not jvm.io.delta.tables.DeltaTable.isDeltaTable(spark._jsparkSession, location):
            continue
        table = catalog_name(settings, name)
        spark.sql(f"CREATE TABLE IF NOT EXISTS {_quoted(namespace)}.`{table}` USING DELTA LOCATION '{location}'")
        registered.append(f"{namespace}.{table}")
    return registered
