"""S3 mistakes a new user makes, on moto: each is one line on stderr, exit 1, within seconds, naming the
fix — never an empty success (a sink with nothing to write, a batch over an empty listing) and never
object_store's error chain or its instance-metadata retries."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.processes import PINPIPE

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]


def pinpipe(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PINPIPE, *args], env=env, capture_output=True, text=True, timeout=60)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr and "↳" not in done.stderr
    return lines[0]


@pytest.fixture
def env(home: Path, aws_env: str) -> dict[str, str]:
    return {**os.environ, "PINPIPE_LOG_URL": f"sqlite:///{home / 'log.db'}"}


@pytest.mark.parametrize(
    ("args", "setting"),
    [
        (("sink", "run", "--until-idle"), "PINPIPE_LAKE_URL"),
        (("batch", "run", "--all"), "PINPIPE_LAKE_URL"),
        (("stream", "run", "--until-idle"), "PINPIPE_WAREHOUSE_URL"),
        (("insights", "show"), "PINPIPE_WAREHOUSE_URL"),
    ],
)
def test_a_bucket_that_does_not_exist_is_one_line_naming_it(
    env: dict[str, str], tmp_path: Path, args: tuple[str, ...], setting: str
) -> None:
    missing = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    env = {
        **env,
        "PINPIPE_LAKE_URL": str(tmp_path / "lake"),
        "PINPIPE_WAREHOUSE_URL": str(tmp_path / "warehouse"),
        setting: f"s3://{missing}/data",
    }
    line = one_line_error(pinpipe(env, *args))
    assert f"the S3 bucket '{missing}'" in line and "does not exist" in line
    assert f"aws s3 mb s3://{missing}" in line


def test_no_credentials_is_one_line_not_the_metadata_service_retries(env: dict[str, str], tmp_path: Path) -> None:
    """Nothing boto3 could find (no keys, no profile, no config files, no instance role)."""
    bare = {k: v for k, v in env.items() if not k.startswith(("AWS_ACCESS_KEY", "AWS_SECRET", "AWS_SESSION"))}
    bare |= {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",  # as on a laptop: no instance metadata service to ask
        "PINPIPE_LAKE_URL": str(tmp_path / "lake"),
        "PINPIPE_WAREHOUSE_URL": "s3://any-bucket/warehouse",
    }
    for args in (("insights", "show"), ("stream", "run", "--until-idle")):
        line = one_line_error(pinpipe(bare, *args))
        assert "no AWS credentials for s3://any-bucket/warehouse" in line
        assert "AWS_ACCESS_KEY_ID" in line
