"""Fixtures for the Airflow tests; they run in `.venv-airflow` through `make airflow-test`."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable

import pytest

from tests.airflow.harness import DAGS, PINPIPE_BIN, AirflowSite


def _isolate_airflow() -> None:
    """This process's own Airflow config (the in-process DagBag reads it): never ~/airflow, no examples."""
    if "AIRFLOW_HOME" not in os.environ:
        home = tempfile.mkdtemp(prefix="pinpipe-airflow-test-")
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)


_isolate_airflow()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip loudly outside the Airflow venv, except under CI, where a missing Airflow is a failure."""
    try:
        import airflow  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise pytest.UsageError("tests/airflow needs the Airflow venv: run `make airflow-test`") from None
        skip = pytest.mark.skip(reason="Airflow is not installed here: run `make airflow-test`")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def report_built() -> bool:
    """Whether the pinpipe under test has `pinpipe report --out FILE` (the DAG's report task calls it)."""
    usage = subprocess.run(
        [str(PINPIPE_BIN), "report", "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    return usage.returncode == 0 and "--out" in usage.stdout


@pytest.fixture(scope="session")
def site_factory(tmp_path_factory: pytest.TempPathFactory, report_built: bool) -> Callable[[str], AirflowSite]:
    """Fresh Airflow sites, each with a migrated SQLite metadata DB and an empty pinpipe home."""

    def make(name: str) -> AirflowSite:
        site = AirflowSite(root=tmp_path_factory.mktemp(name), report=report_built)
        site.pinpipe_home.mkdir()
        site.airflow("db", "migrate", timeout=180)
        return site

    return make
