"""The AWS environment, resolved once as boto3 resolves it, and handed to every client in its own words.

boto3, s3fs, delta-rs (object_store) and Spark's S3A each read a different subset of the AWS
settings: S3A reads no ``AWS_ENDPOINT_URL`` at all, object_store refuses an ``http://`` endpoint
unless told ``AWS_ALLOW_HTTP``. So the endpoint, region and credentials are resolved here the way
boto3 does (environment, ``AWS_PROFILE`` and the config files, SSO, instance roles) and each client
gets them translated; a user sets only what they would set for the AWS CLI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit


@dataclass(frozen=True)
class AwsEnvironment:
    """What boto3 would use for S3: endpoint (None = AWS itself), region, and credentials if any."""

    endpoint_url: str | None
    region: str | None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None

    @property
    def custom_endpoint(self) -> bool:
        """An endpoint other than AWS's own (moto, MinIO, LocalStack): wants path-style addressing."""
        if not self.endpoint_url:
            return False
        host = urlsplit(self.endpoint_url).hostname or ""
        return not host.endswith(".amazonaws.com")

    @property
    def allow_http(self) -> bool:
        return (self.endpoint_url or "").startswith("http://")

    def s3a_conf(self) -> dict[str, str]:
        """Hadoop S3A settings (``spark.hadoop.`` is added by the Spark session): ``s3://`` and
        ``s3a://`` both go to S3A; with no resolved keys S3A's own provider chain looks (env, IMDS)."""
        conf = {
            "fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            # Streaming checkpoints and the Delta log use Hadoop's FileContext API.
            "fs.AbstractFileSystem.s3.impl": "org.apache.hadoop.fs.s3a.S3A",
            "fs.AbstractFileSystem.s3a.impl": "org.apache.hadoop.fs.s3a.S3A",
        }
        if self.endpoint_url:
            conf["fs.s3a.endpoint"] = self.endpoint_url
            conf["fs.s3a.connection.ssl.enabled"] = "false" if self.allow_http else "true"
        if self.custom_endpoint:
            conf["fs.s3a.path.style.access"] = "true"
        if self.region:
            conf["fs.s3a.endpoint.region"] = self.region
        if self.access_key and self.secret_key:
            conf["fs.s3a.access.key"] = self.access_key
            conf["fs.s3a.secret.key"] = self.secret_key
            if self.session_token:
                conf["fs.s3a.session.token"] = self.session_token
                conf["fs.s3a.aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
            else:
                conf["fs.s3a.aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        return conf


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


@lru_cache(maxsize=4)
def _resolve(endpoint: str | None, region_hint: str | None, profile: str | None, key_id: str | None) -> AwsEnvironment:
    import boto3

    session = boto3.session.Session()
    credentials = session.get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials is not None else None
    return AwsEnvironment(
        endpoint_url=endpoint,
        region=session.region_name or region_hint,
        access_key=frozen.access_key if frozen else None,
        secret_key=frozen.secret_key if frozen else None,
        session_token=frozen.token if frozen else None,
    )


def aws_environment() -> AwsEnvironment:
    """The AWS environment of this process, resolved by boto3 (cached per distinct environment)."""
    return _resolve(
        _endpoint(),
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        os.environ.get("AWS_PROFILE"),
        os.environ.get("AWS_ACCESS_KEY_ID"),
    )
