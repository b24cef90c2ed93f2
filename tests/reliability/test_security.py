"""Security: secrets never in logs or outputs, API keys compared in constant time, lake paths confined
to the lake root, source queries parameterised (SQL-looking data round-trips verbatim), and Kafka
TLS/SASL settings passed through to librdkafka."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from pinpipe.api import create_app, deps
from pinpipe.errors import ValidationError
from pinpipe.lake.layout import Partitioner, object_key
from pinpipe.lake.local import LocalLake
from pinpipe.lake.store import check_key, open_lake
from pinpipe.log.kafka import KafkaLog, client_configs
from pinpipe.settings import TABLES, get_settings
from tests import services
from tests.api.conftest import serve
from tests.reliability.bad_input import SQL_TEXT
from tests.reliability.chaos import pinpipe_env
from tests.source._files import events, write_jsonl
from tests.support.acks import read_all
from tests.support.gateway import Gateway
from tests.support.kafka import KafkaCluster
from tests.support.processes import PINPIPE

API_KEY = "sk-live-9b1e77aa-api"
SASL_PASSWORD = "kafka-sasl-Pw-4417"
DB_PASSWORD = "db-Pw-99z-secret"
SECRETS = (API_KEY, SASL_PASSWORD, DB_PASSWORD)


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=180)


# ---------------------------------------------------------------- secrets never logged


@pytest.mark.services
@pytest.mark.timeout(240)
def test_secrets_never_reach_logs_outputs_or_config_show(home: Path, tmp_path: Path, kafka: KafkaCluster) -> None:
    closed_port = services.free_port()
    env = pinpipe_env(
        home,
        PINPIPE_API_KEYS=f"{API_KEY},second-{API_KEY}",
        PINPIPE_LOG_URL=kafka.url,
        PINPIPE_PREFIX="sec",
        PINPIPE_KAFKA__SASL_USERNAME="pinpipe",
        PINPIPE_KAFKA__SASL_PASSWORD=SASL_PASSWORD,
        PINPIPE_KAFKA__SESSION_TIMEOUT_MS="6000",
        PINPIPE_KAFKA__HEARTBEAT_INTERVAL_MS="1200",
        PINPIPE_WAREHOUSE_URL=str(home / "warehouse"),
    )
    outputs: dict[str, str] = {}
    done = run([PINPIPE, "source", "init", "--rows", "50", "--seed", "3"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    gateway = Gateway(home, base_env=env)
    gateway.start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as http:
            for key in (API_KEY, "wrong-" + API_KEY, API_KEY.upper()):
                http.post("/topics/sec.pin", json={"records": [{"value": {"k": key[:3]}}]}, headers={"x-api-key": key})
            for path in ("/health", "/metrics", "/topics", "/openapi.json"):
                outputs[f"GET {path}"] = http.get(path, headers={"x-api-key": API_KEY}).text
        done = run([PINPIPE, "emulate", "batch", "--events", "30", "--api", gateway.url, "--seed", "1"], env, tmp_path)
        assert done.returncode == 0, done.stderr
        outputs["emulate"] = done.stdout + done.stderr
    finally:
        gateway.stop()
    outputs["gateway.log"] = gateway.log_path.read_text(errors="replace")
    done = run([sys.executable, "-m", "pinpipe.sink", "run", "--until-idle"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    outputs["sink"] = done.stdout + done.stderr
    # A database password in a URL, for a database that refuses the connection: the error must mask it.
    db_url = f"postgresql+psycopg://pinpipe:{DB_PASSWORD}@127.0.0.1:{closed_port}/source"
    done = run([PINPIPE, "emulate", "batch", "--events", "1", "--db", db_url, "--api", "http://127.0.0.1:9"], env,
               tmp_path)  # fmt: skip
    assert done.returncode != 0
    outputs["emulate --db (failing)"] = done.stdout + done.stderr
    env_with_db = {**env, "PINPIPE_SOURCE_URL": db_url}
    done = run([PINPIPE, "config", "show"], env_with_db, tmp_path)
    assert done.returncode == 0, done.stderr
    outputs["config show"] = done.stdout + done.stderr
    assert "****" in outputs["config show"]
    done = run([PINPIPE, "source", "stats"], env_with_db, tmp_path)
    outputs["source stats (failing)"] = done.stdout + done.stderr
    for path in home.rglob("*.log"):
        outputs[str(path)] = path.read_text(errors="replace")
    leaks = [(where, secret) for where, text in outputs.items() for secret in SECRETS if secret in text]
    assert leaks == [], leaks
    assert len(outputs) >= 10


# ---------------------------------------------------------------- API keys in constant time


def test_api_keys_are_compared_with_compare_digest_against_every_key(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = inspect.getsource(deps.require_api_key)
    assert "hmac.compare_digest" in source and "==" not in source.split('"""')[-1]
    calls: list[tuple[bytes, bytes]] = []
    real = deps.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(deps.hmac, "compare_digest", spy)
    app = create_app(get_settings(api_keys="first-key,second-key,third-key"))
    with serve(app) as http:
        ok = http.get("/topics", headers={"x-api-key": "first-key"})
        bad = http.get("/topics", headers={"x-api-key": "first-kez"})
    assert ok.status_code == 200 and bad.status_code == 403
    # Every key is compared for every request, also after a match: the time does not say which matched.
    assert [b for _, b in calls] == [b"first-key", b"second-key", b"third-key"] * 2
    assert {a for a, _ in calls} == {b"first-key", b"first-kez"}


# ---------------------------------------------------------------- lake paths stay under the root


ESCAPES = ["../x", "a/../../b", "..", ".", "/etc/passwd", "a/b", "a\\..\\b", "x" * 250, ""]


@pytest.mark.parametrize("topic", ESCAPES)
def test_lake_layout_refuses_topics_that_would_escape(topic: str) -> None:
    for partitioner in Partitioner:
        with pytest.raises(ValidationError):
            object_key(topic, 0, 0, partitioner=partitioner, timestamp_ms=0)


@pytest.mark.parametrize("key", ["../x.json", "topics/../../x.json", "/abs.json", "topics//x.json", "a\\b", "."])
def test_lake_store_refuses_keys_that_would_escape(key: str, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = LocalLake(root.as_uri())
    try:
        with pytest.raises(ValidationError):
            check_key(key)
        with pytest.raises(ValidationError):
            lake.write({key: b"{}\n"})
        with pytest.raises(ValidationError):
            lake.read(key)
    finally:
        lake.close()
    outside = {p.name for p in tmp_path.iterdir()}
    assert outside == {"lake"}, outside


@pytest.mark.parametrize("topic", ["../x", "a/../../b"])
def test_sink_refuses_escaping_topics_with_one_line(home: Path, topic: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pinpipe.sink", "run", "--until-idle", "--topics", topic],
        env=pinpipe_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "invalid topic name" in done.stderr and "Traceback" not in done.stderr
    assert not (home / "x").exists() and not (home.parent / "x").exists() and not (home.parent.parent / "b").exists()


@pytest.mark.services
@pytest.mark.parametrize("path", ["/topics/..%2Fx", "/topics/a%2F..%2F..%2Fb", "/streams/..%2Fx/record"])
def test_gateway_refuses_escaping_names(gateway: str, path: str, home: Path) -> None:
    method = "PUT" if path.endswith("/record") else "POST"
    body = {"Data": {"a": 1}, "PartitionKey": "p"} if method == "PUT" else {"records": [{"value": 1}]}
    response = httpx.request(method, f"{gateway}{path}", json=body, timeout=30)
    assert response.status_code == 400 and "invalid" in response.json()["message"]
    lake = open_lake(str(home / "lake"))
    assert list(lake.list_keys()) == []


# ---------------------------------------------------------------- source queries parameterised


@pytest.mark.services
@pytest.mark.timeout(180)
def test_sql_looking_source_data_round_trips_verbatim(home: Path, tmp_path: Path) -> None:
    """``source load`` and the emulator's reads take SQL-looking text as data: it comes out of the
    gateway's log exactly as it went in, and the source tables are intact."""
    pins, geos, users = (rows[:20] for rows in events(20, seed=4))
    for i, pin in enumerate(pins):
        pin["title"] = f"{SQL_TEXT} #{i}"
        pin["poster_name"] = "x' OR '1'='1"
        pin["category"] = "travel'; DROP TABLE pinterest_data; --"
    for geo in geos:
        geo["country"] = 'Korea"; DELETE FROM geolocation_data WHERE 1=1; --'
    for user in users:
        user["first_name"], user["last_name"] = "Robert'); DROP TABLE user_data;--", "O'Brien \\' %s %(x)s ?"
    files = {k: write_jsonl(tmp_path / f"{k}.jsonl", rows) for k, rows in (("pin", pins), ("geo", geos),
                                                                            ("user", users))}  # fmt: skip
    env = pinpipe_env(home)
    done = run([PINPIPE, "source", "load", "--pin", str(files["pin"]), "--geo", str(files["geo"]),
                "--user", str(files["user"]), "--db", f"sqlite:///{home / 'loaded.db'}"], env, tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    gateway = Gateway(home, base_env=env)
    gateway.start()
    try:
        done = run([PINPIPE, "emulate", "batch", "--all", "--db", f"sqlite:///{home / 'loaded.db'}",
                    "--api", gateway.url, "--batch-size", "7"], env, tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
    finally:
        gateway.stop()
    settings = get_settings()
    topics = [settings.topic(k) for k in TABLES]
    records = read_all(str(settings.log_url), settings, topics, 60)
    got = {(r.topic, orjson.loads(r.value).get("index", orjson.loads(r.value).get("ind"))): orjson.loads(r.value)
           for r in records}  # fmt: skip
    assert len(got) == 60
    for pin in pins:
        row = got[("pinterest.pin", pin["index"])]
        for column in ("title", "poster_name", "category"):
            assert row[column] == pin[column]
    for geo in geos:
        assert got[("pinterest.geo", geo["ind"])]["country"] == geo["country"]
    for user in users:
        row = got[("pinterest.user", user["ind"])]
        assert (row["first_name"], row["last_name"]) == (user["first_name"], user["last_name"])


# ---------------------------------------------------------------- Kafka TLS/SASL passed through

SECURITY = {
    "PINPIPE_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
    "PINPIPE_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
    "PINPIPE_KAFKA__SASL_USERNAME": "pinpipe",
    "PINPIPE_KAFKA__SASL_PASSWORD": SASL_PASSWORD,
    "PINPIPE_KAFKA__SSL_CA_LOCATION": "/etc/ssl/certs/ca-certificates.crt",
    "PINPIPE_KAFKA__SSL_ENDPOINT_IDENTIFICATION_ALGORITHM": "https",
    "PINPIPE_KAFKA__CLIENT_ID": "pinpipe-gw",
}
EXPECTED = {
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "pinpipe",
    "sasl.password": SASL_PASSWORD,
    "ssl.ca.location": "/etc/ssl/certs/ca-certificates.crt",
    "ssl.endpoint.identification.algorithm": "https",
    "client.id": "pinpipe-gw",
}


def test_kafka_security_settings_reach_every_librdkafka_client(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SECURITY.items():
        monkeypatch.setenv(key, value)
    settings = get_settings()
    assert settings.kafka == EXPECTED
    producer, consumer, admin = client_configs("kafka://broker-1:9093,broker-2:9093", settings.kafka)
    for conf in (producer, consumer, admin):
        assert {k: conf[k] for k in EXPECTED} == EXPECTED
        assert conf["bootstrap.servers"] == "broker-1:9093,broker-2:9093"
    # The log builds its clients from exactly these (no broker needed to construct them).
    log = KafkaLog("kafka://127.0.0.1:9", settings)
    try:
        assert {k: log._producer_conf[k] for k in EXPECTED} == EXPECTED
        assert {k: log._consumer_conf[k] for k in EXPECTED} == EXPECTED
    finally:
        log.close()
    assert SASL_PASSWORD not in json.dumps(settings.masked()) and SASL_PASSWORD not in repr(log)


def test_credentials_in_a_kafka_url_are_refused(home: Path) -> None:
    from pinpipe.errors import ConfigError

    with pytest.raises(ConfigError, match="credentials do not belong"):
        client_configs(f"kafka://user:{SASL_PASSWORD}@broker:9093", {})


def test_aws_settings_resolve_as_boto3_resolves_them(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS setting of pinpipe's own: the endpoint, region and keys come from boto3's environment."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-Secret-123")
    import boto3

    client = boto3.client("kinesis")
    assert client.meta.endpoint_url == "http://127.0.0.1:9" and client.meta.region_name == "eu-west-3"
    shown = json.dumps(get_settings().masked())
    assert "aws-Secret-123" not in shown and "AKIAEXAMPLE" not in shown
    assert not any(k.startswith("aws") for k in get_settings().model_dump())
    assert os.environ["AWS_REGION"] == "eu-west-3"
