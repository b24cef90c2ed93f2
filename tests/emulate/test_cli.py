"""`pinpipe emulate batch|stream` as users run it: flags reach the run, the summary prints, failures exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinpipe.cli import main
from pinpipe.emulate import EmulateOptions, Emulator
from tests.emulate._support import FakeGateway, make_source


@pytest.fixture
def source(home: Path, tmp_path: Path) -> str:
    return make_source(tmp_path / "source.db", range(1, 31))


def test_batch_sends_to_the_prefixed_topics_and_prints_a_summary(
    source: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINPIPE_API_KEYS", "first-key,second-key")
    with FakeGateway() as gateway:
        flags = ["--events", "12", "--seed", "4", "--api", gateway.url, "--db", source]
        code = main(["--prefix", "demo", "emulate", "batch", *flags])
    assert code == 0
    assert sorted(gateway.stored) == ["demo.geo", "demo.pin", "demo.user"]
    assert len(gateway.inds("demo.pin")) == 12
    assert {h["x-api-key"] for h in gateway.headers} == {"first-key"}  # the gateway's own key by default
    out = capsys.readouterr().out
    assert "records acknowledged" in out and "36" in out and "first-key" not in out


def test_stream_all_with_put_record(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeGateway() as gateway:
        args = ["emulate", "stream", "--all", "-b", "1", "--api", gateway.url, "--db", source, "--api-key", "k9"]
        assert main(args) == 0
    assert sorted(gateway.inds("streaming-pinterest-pin")) == list(range(1, 31))
    assert {path.rsplit("/", 1)[1] for _, path, _ in gateway.requests} == {"record"}
    assert {h["x-api-key"] for h in gateway.headers} == {"k9"}


def test_unreachable_gateway_exits_non_zero_with_one_line(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["emulate", "batch", "--events", "3", "--attempts", "1", "--api", "http://127.0.0.1:9", "--db", source])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "records failed" in err[-1] and "ConnectError" in err[-1]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--rate", "-1"], "--rate must be >= 0"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--api", "ftp://x"], "not an http(s) URL"),
    ],
)
def test_bad_flags_are_refused_before_anything_is_sent(
    source: str, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["emulate", "batch", "--db", source, *flags]) == 1
    assert message in capsys.readouterr().err


def test_stream_batches_are_capped_at_the_kinesis_limit() -> None:
    options = EmulateOptions(route="stream", source_url="sqlite://", api_url="http://x", batch_size=501)
    with pytest.raises(Exception, match="PutRecords' limit"):
        options.check()


def test_paths_are_appended_to_an_api_gateway_stage_url() -> None:
    options = EmulateOptions(
        route="batch", source_url="sqlite://", api_url="https://abc123.execute-api.us-east-1.amazonaws.com/prod/"
    )
    url = Emulator(options)._url("/topics/pinterest.pin")
    assert str(url) == "https://abc123.execute-api.us-east-1.amazonaws.com/prod/topics/pinterest.pin"
