"""A shared Hive metastore on PostgreSQL for tests: its schema created once, before any Spark uses it.

Hive creates a metastore's schema with its ``schematool``; pyspark ships the metastore client but not
that tool. Letting the client create tables lazily (``datanucleus.schema.autoCreateAll``) deadlocks on
PostgreSQL: the first ``CREATE TABLE`` opens a transaction on ``TBLS`` and then creates ``TBL_PRIVS``
with a foreign key to it from a second connection (seen here; a known Hive/DataNucleus problem). So
the schema is created up front from Hive's own object model (``package.jdo`` in hive-metastore's jar)
with DataNucleus's SchemaTool, from pyspark's jars — as a deployment runs schematool once.
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

from tests.support.kafka import java
from tests.support.spark import spark_home


def create_metastore_schema(folder: Path, jdbc_url: str, user: str, jdbc_driver_jar: Path) -> None:
    jars = spark_home() / "jars"
    metastore_jar = next(jars.glob("hive-metastore-*.jar"))
    with zipfile.ZipFile(metastore_jar) as archive:
        (folder / "package.jdo").write_bytes(archive.read("package.jdo"))
    (folder / "datanucleus.properties").write_text(
        f"datanucleus.ConnectionURL={jdbc_url}\n"
        "datanucleus.ConnectionDriverName=org.postgresql.Driver\n"
        f"datanucleus.ConnectionUserName={user}\n"
        "datanucleus.ConnectionPassword=\n"
        "datanucleus.identifierFactory=datanucleus1\n"
        "datanucleus.rdbms.useLegacyNativeValueStrategy=true\n"
        "datanucleus.storeManagerType=rdbms\n"
    )
    done = subprocess.run(
        [java(), "-cp", f"{jars}/*:{jdbc_driver_jar}", "org.datanucleus.store.schema.SchemaTool", "-create",
         "-api", "JDO", "-props", str(folder / "datanucleus.properties"), str(folder / "package.jdo")],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    if done.returncode != 0 or "completed successfully" not in done.stdout:
        raise RuntimeError(f"creating the Hive metastore schema failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def shared_metastore_defaults(jdbc_url: str, user: str) -> dict[str, str]:
    """What a Spark user puts in spark-defaults.conf for a shared metastore on PostgreSQL."""
    return {
        "spark.hadoop.javax.jdo.option.ConnectionURL": jdbc_url,
        "spark.hadoop.javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
        "spark.hadoop.javax.jdo.option.ConnectionUserName": user,
        "spark.hadoop.hive.metastore.schema.verification": "false",
    }
