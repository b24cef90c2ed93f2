"""Settings: defaults < pinpipe.toml < PINPIPE_* environment < CLI flags; secrets never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinpipe.cli import main
from pinpipe.errors import ConfigError
from pinpipe.settings import get_settings, mask_url


def test_defaults_derive_from_home(home: Path):
    settings = get_settings()
    assert settings.home == home.resolve()
    assert settings.prefix == "pinterest"
    assert settings.source_url == f"sqlite:///{home.resolve() / 'source.db'}"
    assert settings.log_url == settings.stream_log_url == f"sqlite:///{home.resolve() / 'log.db'}"
    assert settings.lake_url == (home.resolve() / "lake").as_uri()
    assert settings.topic("pin") == "pinterest.pin" and settings.stream("geo") == "streaming-pinterest-geo"


def test_precedence_defaults_toml_env_flags(home: Path, monkeypatch: pytest.MonkeyPatch):
    Path("pinpipe.toml").write_text('prefix = "fromtoml"\npartitions = 3\napi_port = 9001\n')
    settings = get_settings()
    assert (settings.prefix, settings.partitions, settings.api_port) == ("fromtoml", 3, 9001)
    monkeypatch.setenv("PINPIPE_PREFIX", "fromenv")
    monkeypatch.setenv("PINPIPE_PARTITIONS", "4")
    settings = get_settings()
    assert (settings.prefix, settings.partitions, settings.api_port) == ("fromenv", 4, 9001)
    settings = get_settings(prefix="fromflag", partitions=None)  # None = flag not given
    assert (settings.prefix, settings.partitions, settings.api_port) == ("fromflag", 4, 9001)


def test_cli_flags_win_over_environment(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("PINPIPE_PREFIX", "fromenv")
    assert main(["--prefix", "fromflag", "config", "show"]) == 0
    out = capsys.readouterr().out
    assert "fromflag" in out and "fromenv" not in out


def test_source_db_flag_overrides_source_url(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from_env, from_flag = tmp_path / "env.db", tmp_path / "flag.db"
    monkeypatch.setenv("PINPIPE_SOURCE_URL", f"sqlite:///{from_env}")
    assert main(["source", "init", "--rows", "5", "--db", f"sqlite:///{from_flag}"]) == 0
    assert from_flag.exists() and not from_env.exists()
    assert main(["source", "init", "--rows", "5"]) == 0
    assert from_env.exists()


def test_config_file_from_flag_and_missing_file(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    config = tmp_path / "other.toml"
    config.write_text('prefix = "elsewhere"\n')
    assert main(["--config", str(config), "config", "show"]) == 0
    assert "elsewhere" in capsys.readouterr().out
    assert main(["--config", str(tmp_path / "absent.toml"), "config", "show"]) == 1
    err = capsys.readouterr().err
    assert "absent.toml" in err and "does not exist" in err and err.count("\n") == 1


def test_config_show_masks_every_secret(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("PINPIPE_SOURCE_URL", "mysql+pymysql://pinner:hunter2@db.example:3306/pins")
    monkeypatch.setenv("PINPIPE_API_KEYS", "key-alpha,key-beta")
    monkeypatch.setenv("PINPIPE_KAFKA__SASL_PASSWORD", "kafkapass")
    monkeypatch.setenv("PINPIPE_KAFKA__SASL_MECHANISM", "PLAIN")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    for secret in ("hunter2", "key-alpha", "key-beta", "kafkapass"):
        assert secret not in out
    assert "pinner:****@db.example" in out and "sasl.mechanism=PLAIN" in out and "sasl.password=****" in out
    settings = get_settings()
    assert [k.get_secret_value() for k in settings.api_keys] == ["key-alpha", "key-beta"]
    assert "hunter2" not in repr(settings.masked())


def test_kafka_env_names_become_librdkafka_properties(home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PINPIPE_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("PINPIPE_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    assert get_settings().kafka == {"sasl.mechanism": "SCRAM-SHA-512", "security.protocol": "SASL_SSL"}


def test_bad_value_is_one_config_error(home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PINPIPE_PARTITIONS", "zero")
    with pytest.raises(ConfigError, match="partitions"):
        get_settings()
    monkeypatch.delenv("PINPIPE_PARTITIONS")
    with pytest.raises(ConfigError, match="prefix"):
        get_settings(prefix="bad/prefix")


def test_mask_url_keeps_everything_but_the_password():
    assert mask_url("postgresql+psycopg://u:s3cret@h:5432/db?x=1") == "postgresql+psycopg://u:****@h:5432/db?x=1"
    assert mask_url("sqlite:////tmp/source.db") == "sqlite:////tmp/source.db"


def test_every_setting_is_in_the_readme_table() -> None:
    """The README's configuration table documents each field of Settings (and its environment name)."""
    from pinpipe.settings import Settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("| `")]
    for name in Settings.model_fields:
        env = f"PINPIPE_{name.upper()}"
        assert any(f"`{name}`" in line and env in line for line in table), f"{name} ({env}) not in the README table"


def test_config_show_names_the_topic_replication(home: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    assert main(["config", "show"]) == 0
    assert "broker's default.replication.factor" in capsys.readouterr().out
    monkeypatch.setenv("PINPIPE_REPLICATION_FACTOR", "3")
    assert get_settings().replication_factor == 3
    monkeypatch.setenv("PINPIPE_REPLICATION_FACTOR", "0")
    with pytest.raises(ConfigError, match="replication_factor"):
        get_settings()
