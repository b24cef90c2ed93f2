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

from pinpipe.errors import BackendUnavailableError, ConfigError


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


def _bucket_of(url: str) -> str:
    return urlsplit(url).netloc


@lru_cache(maxsize=32)
def _bucket_found(bucket: str, environment: AwsEnvironment) -> bool:
    """One HeadBucket per bucket and environment per process (a found bucket stays found)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    config = Config(
        connect_timeout=5,
        read_timeout=10,
        retries={"max_attempts": 2, "mode": "standard"},
        s3={"addressing_style": "path"} if environment.custom_endpoint else None,
    )
    client = boto3.session.Session().client(
        "s3", endpoint_url=environment.endpoint_url, region_name=environment.region, config=config
    )
    try:
        client.head_bucket(Bucket=bucket)
    except NoCredentialsError:
        raise _no_credentials(f"s3://{bucket}") from None
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in {"404", "NoSuchBucket"}:
            return False
        if code in {"403", "AccessDenied"}:
            raise ConfigError(
                f"access to the S3 bucket {bucket!r} was denied",
                hint="check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and the bucket's policy",
            ) from None
        raise BackendUnavailableError(f"S3 could not look up bucket {bucket!r}: {code}", retry_after=1.0) from None
    except BotoCoreError as exc:
        where = environment.endpoint_url or "AWS S3"
        raise BackendUnavailableError(f"S3 at {where} is unreachable: {exc}", retry_after=1.0) from None
    return True


def _no_credentials(url: str) -> ConfigError:
    return ConfigError(
        f"no AWS credentials for {url}: boto3 found none (environment, AWS_PROFILE, config files, instance role)",
        hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
    )


def require_bucket(url: str) -> None:
    """Fail in one line, before any client library tries, when ``url``'s bucket cannot be used: no
    credentials (delta-rs would then ask the instance metadata service and print its retries), a
    bucket that does not exist (a sink with nothing to write, or a batch reading an empty listing,
    would otherwise succeed on a mistyped URL), no access, an endpoint that does not answer."""
    environment = aws_environment()
    if environment.access_key is None:
        raise _no_credentials(url)
    bucket = _bucket_of(url)
    if not _bucket_found(bucket, environment):
        raise ConfigError(
            f"the S3 bucket {bucket!r} of {url} does not exist",
            hint=f"create it with `aws s3 mb s3://{bucket}`, or correct the URL",
        )
