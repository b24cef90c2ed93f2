"""Tables by name in Spark's Hive metastore (``PINPIPE_CATALOG``): one Spark application writes and
registers the tables, another — a separate process — finds them by name and reads the same rows.

Twice: on the embedded metastore (Derby, which pyspark ships; it lives in ``$PINPIPE_HOME/metastore``)
with the lake and warehouse on S3 through S3A (moto), configured from the AWS environment alone; and on
a shared one on the PostgreSQL the tests start, configured the way Spark users configure a metastore
(``spark-defaults.conf``), where the reader runs from another home altogether.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from pinpipe.batch import run_batch
from pinpipe.insights import INSIGHTS
from pinpipe.jvm import jar_paths
from pinpipe.settings import TABLES, Settings
from pinpipe.spark.session import JAR_SET
from pinpipe.tables import read_table
from pinpipe.tables.names import catalog_name, named_tables
from tests import services
from tests.batch.lakegen import write_random_lake
from tests.support.metastore import create_metastore_schema, shared_metastore_defaults
from tests.support.processes import PINPIPE
from tests.support.spark import write_spark_defaults
from tests.support.warehouse import batch_snapshot

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(600)]

NAMESPACE = "pinpipe"
# A second application: pinpipe's own session with the metastore, reading every table it is asked for
# by name only (no location given), and what the catalog lists.
READER = """
import json, sys
from pinpipe.settings import get_settings
from pinpipe.spark import spark_session
from pinpipe.spark.session import needs_of
settings = get_settings()
spark, _ = spark_session(settings, "local[1]", needs=needs_of(settings))
namespace, names = sys.argv[1], sys.argv[2].split(",")
listed = sorted(t.name for t in spark.catalog.listTables(namespace))
counts = dict((n, spark.table(namespace + "." + n).count()) for n in names)
print(json.dumps(dict(listed=listed, counts=counts)))
spark.stop()
"""


def run(args: list[str], env: dict[str, str], timeout: float = 400) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args[:3]} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_") or k == "PINPIPE_JARS_DIR"}
    return {**env, "PINPIPE_HOME": str(home), "PINPIPE_CATALOG": NAMESPACE, "SPARK_LOCAL_IP": "127.0.0.1", **extra}


def read_by_name(env: dict[str, str], names: list[str]) -> dict[str, object]:
    done = run([sys.executable, "-c", READER, NAMESPACE, ",".join(names)], env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def rows_at(settings: Settings, name: str) -> int:
    table = read_table(named_tables(settings)[name].location)
    assert table is not None, name
    return table.num_rows


@pytest.mark.services
def test_the_embedded_metastore_knows_the_batch_tables_of_an_s3_warehouse_by_name(home: Path, aws_env: str) -> None:
    """S3A from the AWS environment boto3 uses (endpoint, keys, region); nothing S3A-specific is set.
    The reference is DuckDB on the same lake as local files (DuckDB on S3 has its own tests)."""
    import boto3
    import s3fs

    boto3.client("s3").create_bucket(Bucket="metastore-lake")
    write_random_lake(home / "local-lake", "pinterest", 300, seed=31)
    s3fs.S3FileSystem().put(str(home / "local-lake") + "/", "metastore-lake/lake/", recursive=True)
    reference = Settings(home=home, lake_url=str(home / "local-lake"), warehouse_url=str(home / "wh-duckdb"))
    run_batch(reference, None, "duckdb", progress=lambda _: None)
    env = env_for(home, PINPIPE_LAKE_URL="s3://metastore-lake/lake", PINPIPE_WAREHOUSE_URL="s3://metastore-lake/wh")
    done = run([PINPIPE, "batch", "run", "--all", "--engine", "spark", "--spark-master", "local[2]"], env)
    assert "in s3://metastore-lake/lake (spark)" in done.stderr
    on_s3 = Settings(home=home, catalog=NAMESPACE, warehouse_url="s3://metastore-lake/wh")
    expected, got = batch_snapshot(reference), batch_snapshot(on_s3)
    for name, table in expected.items():
        assert got[name].equals(table), name

    names = [f"batch_{k}" for k in TABLES] + ["dead_letter", *INSIGHTS]
    seen = read_by_name(env, [catalog_name(on_s3, n) for n in names])
    assert seen["listed"] == sorted(catalog_name(on_s3, n) for n in names)
    assert seen["counts"] == {catalog_name(on_s3, n): rows_at(on_s3, n) for n in names}
    assert (home / "metastore" / "metastore_db").is_dir()  # in PINPIPE_HOME, not the working folder


@pytest.mark.services
def test_a_shared_metastore_on_postgresql_serves_another_application(
    postgres_server: services.Server, tmp_path: Path
) -> None:
    database = f"metastore_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(postgres_server.url + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {database}"))
    jdbc_url = f"jdbc:postgresql://127.0.0.1:{postgres_server.port}/{database}"
    driver = next(p for p in jar_paths(JAR_SET, Settings().jars_dir) if p.name.startswith("postgresql-"))
    create_metastore_schema(tmp_path, jdbc_url, "postgres", driver)
    conf_dir = write_spark_defaults(tmp_path / "spark-conf", shared_metastore_defaults(jdbc_url, "postgres"))
    writer_home, reader_home = tmp_path / "writer", tmp_path / "reader"
    write_random_lake(writer_home / "lake", "pinterest", 300, seed=32)
    writer = env_for(writer_home, SPARK_CONF_DIR=str(conf_dir))
    run([PINPIPE, "stream", "run", "--engine", "spark", "--spark-source", "files", "--until-idle"], writer)

    settings = Settings(home=writer_home, catalog=NAMESPACE)
    names = [f"stream_{k}" for k in TABLES]
    seen = read_by_name(env_for(reader_home, SPARK_CONF_DIR=str(conf_dir)), [catalog_name(settings, n) for n in names])
    assert seen["counts"] == {catalog_name(settings, n): rows_at(settings, n) for n in names}
    assert {"pinterest_pin_table", "pinterest_geo_table", "pinterest_user_table"} <= set(seen["listed"])
    assert not (reader_home / "metastore" / "metastore_db").exists()  # the reader used PostgreSQL alone
    with sa.create_engine(postgres_server.url + f"/{database}").connect() as conn:
        stored = {r[0] for r in conn.execute(sa.text('SELECT "TBL_NAME" FROM "TBLS"'))}
    assert {"pinterest_pin_table", "pinterest_geo_table", "pinterest_user_table", "pinterest_dead_letter"} <= stored
