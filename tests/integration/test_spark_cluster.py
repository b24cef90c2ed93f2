"""The Spark engine on a standalone cluster (a master, two one-core workers), as a user outgrowing one
machine runs it: `pinpipe batch run --engine spark --spark-master spark://…`.

The drivers run with ``spark.driver.maxResultSize=16m`` (the cluster's spark-defaults.conf): a batch of
200k events whose clean rows were collected to the driver failed at 52.5 MiB, so a batch of 100k (half
the rows, still three times the limit) that passes and writes the same insights as DuckDB did its work
on the executors. A control shows the limit bites.
(S3 through S3A is tested with the embedded metastore, tests/integration/test_spark_metastore.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinpipe.insights import INSIGHTS
from pinpipe.settings import TABLES, Settings
from pinpipe.tables import batch_table, insight_table, read_table
from tests.support.processes import PINPIPE
from tests.support.spark import SparkCluster, running_cluster

pytestmark = [pytest.mark.spark, pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(900)]

EVENTS = 100_000  # half the 200k whose clean rows, collected, failed the 16m limit at 52.5 MiB
DRIVER_DEFAULTS = {
    "spark.driver.maxResultSize": "16m",
    "spark.executor.memory": "900m",
    "spark.executor.cores": "1",
    "spark.sql.shuffle.partitions": "4",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    yield from running_cluster(tmp_path_factory.mktemp("spark-cluster"), DRIVER_DEFAULTS)


def batch(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([PINPIPE, "batch", "run", "--all", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert done.returncode == 0, f"batch {args} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done


def same_tables(first: Settings, second: Settings) -> None:
    for name in INSIGHTS:
        a, b = (read_table(insight_table(s, name)) for s in (first, second))
        assert a is not None and b is not None and a.num_rows > 0, name
        assert a.equals(b), name
    for kind in TABLES:
        a, b = (read_table(batch_table(s, kind)) for s in (first, second))
        assert a is not None and b is not None
        assert a.sort_by("ind").equals(b.sort_by("ind")), kind


def completed_apps(cluster: SparkCluster) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{cluster.web_port}/json/", timeout=5) as response:
        return list(json.load(response).get("completedapps", []))


def test_a_100k_event_batch_runs_on_the_executors_and_equals_duckdb(
    cluster: SparkCluster, home: Path, tmp_path: Path
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench.batch import generate_lake

    lake = home / "lake"
    generate_lake(lake, EVENTS)
    base = cluster.driver_env(PINPIPE_HOME=str(home), PINPIPE_LAKE_URL=str(lake))
    on_duckdb = {**base, "PINPIPE_WAREHOUSE_URL": str(home / "wh-duckdb")}
    on_spark = {**base, "PINPIPE_WAREHOUSE_URL": str(home / "wh-spark")}
    batch(on_duckdb)
    apps_before = len(completed_apps(cluster))
    done = batch(on_spark, "--engine", "spark", "--spark-master", cluster.master_url)
    assert "dead letters" in done.stderr
    same_tables(Settings(home=home, lake_url=str(lake), warehouse_url=str(home / "wh-duckdb")),
                Settings(home=home, lake_url=str(lake), warehouse_url=str(home / "wh-spark")))  # fmt: skip
    apps = completed_apps(cluster)
    assert len(apps) == apps_before + 1 and apps[-1]["name"] == "pinpipe-batch"
    assert apps[-1]["cores"] == 2  # both workers' executors did the work

    # The control: the same drivers fail a collect of data-sized results (so the limit was in force;
    # hashes, since Spark compresses task results and repeated text would pass).
    control = subprocess.run(
        [sys.executable, "-c",
         "from pyspark.sql import SparkSession\n"
         f"s = SparkSession.builder.master({cluster.master_url!r}).appName('control').getOrCreate()\n"
         "try:\n"
         "    s.range(1_000_000).selectExpr('id', 'sha2(CAST(id AS STRING), 512) AS pad').collect()\n"
         "except Exception as e:\n"
         "    print('maxResultSize' in str(e))\n"
         "s.stop()\n"],
        env=cluster.driver_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert control.stdout.strip().splitlines()[-1:] == ["True"], control.stderr[-2000:]
