"""The one settings object: defaults < ``pinpipe.toml`` < ``PINPIPE_*`` environment < CLI flags.

Built by a function (:func:`get_settings`), never at import, so tests and CLI flags decide what a
process sees. URLs that are not given derive from ``PINPIPE_HOME``, so pointing ``PINPIPE_HOME`` at a
fresh folder gives a whole fresh embedded pipeline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import url2pathname

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pinpipe.errors import ConfigError
from pinpipe.jvm import default_jars_dir

CONFIG_ENV = "PINPIPE_CONFIG"
DEFAULT_CONFIG_FILE = "pinpipe.toml"


def _config_file() -> Path:
    return Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))


class Settings(BaseSettings):
    """Everything a pinpipe process can be configured with; the README's table documents each field."""

    model_config = SettingsConfigDict(
        env_prefix="PINPIPE_",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="ignore",
        validate_default=True,
    )

    home: Path = Field(Path(".pinpipe"), description="Folder for everything the embedded defaults write.")
    prefix: str = Field("pinterest", description="Names topics <prefix>.pin|geo|user and streams.")
    source_url: str | None = Field(None, description="Source database (SQLAlchemy URL).")
    log_url: str | None = Field(None, description="Event log for the topics (Kafka REST route).")
    stream_log_url: str | None = Field(None, description="Event log for the streams (Kinesis route).")
    lake_url: str | None = Field(None, description="Raw JSON lake (file:// or s3://).")
    warehouse_url: str | None = Field(None, description="Delta tables (file:// or s3://).")
    api_url: str = Field("http://127.0.0.1:8000", description="Gateway the emulators post to.")
    api_host: str = Field("127.0.0.1", description="Address `pinpipe api` binds.")
    api_port: int = Field(8000, description="Port `pinpipe api` binds.")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Comma-separated API keys."
    )
    api_in_flight_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="Gateway: request bytes read but not yet answered before produce requests get 429 (0: no limit).",
    )
    partitions: int = Field(1, ge=1, le=1024, description="Partitions/shards for topics created by pinpipe.")
    replication_factor: int | None = Field(
        None, ge=1, le=32, description="Kafka: replicas of the topics pinpipe creates (none: the broker's default)."
    )
    kafka_transactions: bool = Field(
        True,
        description="Kafka: a request's records are all in the log or none (transactions; off: idempotent only).",
    )
    log_retention_hours: float = Field(168.0, gt=0, description="Embedded log: keep records this long.")
    spark_master: str = Field("local[*]", description="Spark master URL for --engine spark.")
    catalog: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$",
        description="Spark: register the tables by name in this metastore database (or Unity catalog.schema).",
    )
    spark_driver_memory: str = Field(
        "4g",
        pattern=r"^[0-9]+[kmgt]?$",
        description="Heap of a Spark driver pinpipe starts (local mode runs all in it).",
    )
    duckdb_memory_limit: str = Field(
        "1500MB",
        pattern=r"^[0-9]+(\.[0-9]+)?\s*([KMGT]i?B|[kmgt]i?b|B|b)?$",
        description="Memory the DuckDB batch engine may hold before it spills to disk (DuckDB's memory_limit).",
    )
    jars_dir: Path = Field(
        default_factory=default_jars_dir, description="JVM jar cache `make jars` fills (Spark's connectors)."
    )
    kafka: dict[str, str] = Field(
        default_factory=dict, description="librdkafka properties passed through (PINPIPE_KAFKA__SASL_MECHANISM=…)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_file()
        if CONFIG_ENV in os.environ and not path.is_file():
            raise ConfigError(f"config file {str(path)!r} (from {CONFIG_ENV}) does not exist")
        toml = TomlConfigSettingsSource(settings_cls, toml_file=path)
        return init_settings, env_settings, toml

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        from pinpipe.log.names import validate_name

        validate_name(value, what="prefix")
        return value

    @field_validator("kafka", mode="after")
    @classmethod
    def _librdkafka_names(cls, value: dict[str, str]) -> dict[str, str]:
        # Environment variables cannot carry dots, so PINPIPE_KAFKA__SASL_MECHANISM arrives as
        # ``sasl_mechanism``; librdkafka property names never contain underscores.
        return {k.lower().replace("_", "."): str(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _derive_urls(self) -> Settings:
        home = self.home.expanduser().resolve()
        self.home = home
        self.source_url = self.source_url or f"sqlite:///{home / 'source.db'}"
        self.log_url = self.log_url or f"sqlite:///{home / 'log.db'}"
        self.stream_log_url = self.stream_log_url or self.log_url
        self.lake_url = as_url(self.lake_url or str(home / "lake"))
        self.warehouse_url = as_url(self.warehouse_url or str(home / "warehouse"))
        return self

    @property
    def checkpoints_dir(self) -> Path:
        return self.home / "checkpoints"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    def topic(self, table: str) -> str:
        """The Kafka-route topic for a source table kind (``pin``, ``geo``, ``user``)."""
        return f"{self.prefix}.{table}"

    def stream(self, table: str) -> str:
        """The Kinesis-route stream for a source table kind."""
        return f"streaming-{self.prefix}-{table}"

    def masked(self) -> dict[str, str]:
        """The effective settings as strings, with every secret masked, for `config show` and logs."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "api_keys":
                out[name] = ", ".join("****" for _ in value) or "(none)"
            elif name == "kafka":
                out[name] = (
                    ", ".join(f"{k}={'****' if _is_secret_key(k) else v}" for k, v in sorted(value.items())) or "(none)"
                )
            elif isinstance(value, str) and "://" in value:
                out[name] = mask_url(value)
            elif name == "replication_factor" and value is None:
                out[name] = "(the broker's default.replication.factor)"
            elif name == "catalog" and value is None:
                out[name] = "(off: tables by path only)"
            else:
                out[name] = str(value)
        return out


TABLES: tuple[str, ...] = ("pin", "geo", "user")


def _is_secret_key(key: str) -> bool:
    return any(word in key for word in ("password", "secret", "token", "key"))


def as_url(location: str) -> str:
    """Bare paths become ``file://`` URLs so every store is addressed the same way."""
    if "://" in location:
        return location
    return Path(location).expanduser().resolve().as_uri()


def local_path(url: str) -> str:
    """``file://`` URLs become local paths (what deltalake, DuckDB and the filesystem take); other URLs stay.

    The inverse of :func:`as_url`, kept beside it: the one place a ``file://`` URL is turned into a path.
    """
    if url.startswith("file://"):
        return url2pathname(urlsplit(url).path)
    return url


def mask_url(url: str) -> str:
    """Hide the password of a URL (``mysql+pymysql://u:****@host/db``) before it is printed."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def get_settings(**overrides: Any) -> Settings:
    """Build settings; ``overrides`` are CLI flags (``None`` means not given)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ConfigError:
        raise
    except Exception as exc:  # pydantic's ValidationError: one readable line per bad field
        errors = getattr(exc, "errors", None)
        if callable(errors):
            lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors()]
            raise ConfigError("invalid settings: " + "; ".join(lines)) from exc
        raise ConfigError(f"invalid settings: {exc}") from exc
