"""The exactly-once bookkeeping: offsets ↔ Delta app transactions, resume points, stale refusal."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from pinpipe.log import TopicPartition, capabilities_of
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.stream.positions import (
    INT64_MAX,
    DenseCodec,
    SequenceCodec,
    StaleBatchError,
    Stored,
    app_id,
    check_fresh,
    codec_for,
    join_limbs,
    resume_offsets,
    split_limbs,
)

TP = TopicPartition("streaming-pinterest-pin", 0)
# A real-looking Kinesis sequence number: 56 digits, far beyond int64.
SEQ = 49590338271490256608559692538361571095921575989136588898


def _store(transactions: list) -> dict[str, int]:
    return {t.app_id: t.version for t in transactions}


def test_app_ids_name_stream_partition_and_table_role() -> None:
    assert app_id(TP) == "pinpipe.stream/streaming-pinterest-pin/0"
    assert app_id(TP, role="dead_letter") == "pinpipe.stream/streaming-pinterest-pin/0/dead_letter"


def test_dense_offset_is_the_version() -> None:
    codec = DenseCodec()
    store = _store(codec.transactions(app_id(TP), 41, None))
    assert store == {app_id(TP): 41}
    assert codec.read(app_id(TP), store.get) == Stored(offset=41, version=41)
    assert codec.read(app_id(TP), {}.get) is None


@pytest.mark.parametrize("number", [0, 1, 10**18 - 1, 10**18, INT64_MAX, SEQ, 2**128 - 1, 10**129 - 7])
def test_limbs_round_trip_and_fit_int64(number: int) -> None:
    limbs = split_limbs(number)
    assert all(0 <= limb <= INT64_MAX for limb in limbs)
    assert join_limbs(limbs) == number


def test_kinesis_sequence_rides_in_companion_transactions_with_a_commit_counter() -> None:
    codec = SequenceCodec()
    app = app_id(TP)
    first = _store(codec.transactions(app, SEQ, None))
    assert all(v <= INT64_MAX for v in first.values())
    assert codec.read(app, first.get) == Stored(offset=SEQ, version=0)
    second = {**first, **_store(codec.transactions(app, SEQ + 5, Stored(SEQ, 0)))}
    assert codec.read(app, second.get) == Stored(offset=SEQ + 5, version=1)


def test_kinesis_position_without_its_sequence_is_refused() -> None:
    with pytest.raises(StaleBatchError, match="no sequence number"):
        SequenceCodec().read(app_id(TP), {app_id(TP): 3}.get)


def test_codec_follows_the_log_url() -> None:
    assert isinstance(codec_for("kinesis://us-east-1"), SequenceCodec)
    assert isinstance(codec_for("kafka://127.0.0.1:9092"), DenseCodec)
    assert isinstance(codec_for("sqlite:///tmp/log.db"), DenseCodec)


def test_codec_follows_the_logs_capabilities(tmp_path: Path) -> None:
    """An opened log is asked, not its URL: dense offsets are versions, anything else takes limbs."""
    with EmbeddedLog(f"sqlite:///{tmp_path / 'log.db'}") as log:
        assert isinstance(codec_for(log), DenseCodec)
    sequence_numbers = SimpleNamespace(capabilities=capabilities_of("kinesis://us-east-1"))
    assert isinstance(codec_for(sequence_numbers), SequenceCodec)  # type: ignore[arg-type]  # just the flags


def test_resume_right_after_the_stored_record_or_from_the_start() -> None:
    other = TopicPartition("streaming-pinterest-pin", 1)
    assert resume_offsets({TP: Stored(9, 9), other: None}) == {TP: 10, other: 0}
    assert resume_offsets({TP: Stored(SEQ, 4)}) == {TP: SEQ + 1}


def test_fresh_batch_passes() -> None:
    check_fresh("a", 10, Stored(9, 9), Stored(9, 9))
    check_fresh("a", 0, None, None)


def test_stale_batch_is_refused() -> None:
    """deltalake would accept the lower version silently and the rows would be duplicated."""
    with pytest.raises(StaleBatchError, match="already holds up to 9"):
        check_fresh("a", 9, Stored(9, 9), Stored(9, 9))
    with pytest.raises(StaleBatchError, match="already holds"):
        check_fresh("a", 3, Stored(9, 9), Stored(9, 9))


def test_another_writer_moving_on_is_refused() -> None:
    with pytest.raises(StaleBatchError, match="another stream job"):
        check_fresh("a", 10, Stored(20, 20), Stored(9, 9))
    with pytest.raises(StaleBatchError, match="another stream job"):
        check_fresh("a", 0, Stored(5, 5), None)
