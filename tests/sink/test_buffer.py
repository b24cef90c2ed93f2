"""The rotation rules, as the Kafka Connect S3 sink applies them, on records alone (no I/O)."""

from __future__ import annotations

from pinpipe.lake.format import NO_RECORD
from pinpipe.log import Record, TopicPartition
from pinpipe.sink.buffer import DAY_MS, PartitionBuffer

TP = TopicPartition("t", 0)
T0 = 1_600_000_000_000 - 1_600_000_000_000 % DAY_MS  # a UTC midnight


def records(n: int, start: int = 0, ts: int = T0, step_ms: int = 0) -> list[Record]:
    return [Record("t", 0, start + i, ts + i * step_ms, b'{"i":%d}' % (start + i)) for i in range(n)]


def spans(chunks: list) -> list[tuple[int, int]]:
    return [(c.start_offset, c.end_offset) for c in chunks]


def test_flush_size_closes_a_file_at_exactly_n_records() -> None:
    buf = PartitionBuffer(TP, flush_size=3)
    closed = buf.add(records(7))
    assert spans(closed) == [(0, 3), (3, 6)]
    assert [len(c) for c in closed] == [3, 3] and buf.pending == 1
    assert closed[0].values == [b'{"i":0}', b'{"i":1}', b'{"i":2}']


def test_the_cut_does_not_depend_on_how_records_arrive() -> None:
    whole = PartitionBuffer(TP, flush_size=4)
    one_by_one = PartitionBuffer(TP, flush_size=4)
    rs = records(10)
    a = whole.add(rs)
    b = [c for r in rs for c in one_by_one.add([r])]
    assert spans(a) == spans(b) == [(0, 4), (4, 8)]


def test_rotate_interval_closes_before_the_record_that_is_too_new() -> None:
    buf = PartitionBuffer(TP, flush_size=1000, rotate_interval_ms=100, daily=False)
    closed = buf.add(records(6, step_ms=40))  # ts 0,40,80,120,160,200
    # 120 - 0 >= 100: [0,3) closes without offset 3, which starts the next file (first ts 120).
    assert spans(closed) == [(0, 3)]
    closed = buf.add(records(1, start=6, ts=T0 + 220))  # 220 - 120 = 100 -> closes [3,6)
    assert spans(closed) == [(3, 6)] and buf.pending == 1


def test_a_day_change_closes_the_file_daily_only() -> None:
    stamps = [T0 + DAY_MS - 2, T0 + DAY_MS - 1, T0 + DAY_MS, T0 + DAY_MS + 5]
    rs = [Record("t", 0, i, ts, b"x") for i, ts in enumerate(stamps)]
    daily = PartitionBuffer(TP, flush_size=100, daily=True)
    assert spans(daily.add(rs)) == [(0, 2)]
    chunk = daily.cut()
    assert chunk is not None and (chunk.start_offset, chunk.first_timestamp_ms) == (2, T0 + DAY_MS)
    flat = PartitionBuffer(TP, flush_size=100, daily=False)
    assert flat.add(rs) == [] and flat.pending == 4


def test_cut_closes_what_is_open() -> None:
    buf = PartitionBuffer(TP, flush_size=10)
    assert buf.cut() is None
    buf.add(records(4))
    chunk = buf.cut()
    assert chunk is not None and (chunk.start_offset, chunk.end_offset) == (0, 4)
    assert spans(buf.add(records(10, start=4))) == [(4, 14)]


def test_a_recovering_buffer_recuts_a_crashed_runs_files_at_their_lengths() -> None:
    """Files a crashed run wrote at 0 (4 records, cut when idle) and 4 (10): the replay re-cuts them
    exactly there whatever its own rules say, then follows its rules again (nothing at 14)."""
    left = {0: 4, 4: 10}
    asked: list[int] = []

    def uncommitted_length(offset: int, ts: int) -> int | None:
        asked.append(offset)
        return left.get(offset)

    buf = PartitionBuffer(TP, flush_size=6, rotate_interval_ms=1, daily=False, uncommitted_length=uncommitted_length)
    closed = buf.add(records(30, step_ms=1))
    # then the rules: rotate_interval 1 ms with 1 ms steps closes each file after one record
    assert spans(closed)[:4] == [(0, 4), (4, 14), (14, 15), (15, 16)]
    assert asked == [0, 4, 14] and not buf.recovering


def test_a_recut_file_ignores_idle_cuts_unless_forced() -> None:
    buf = PartitionBuffer(TP, flush_size=100, uncommitted_length=lambda offset, ts: 5 if offset == 0 else None)
    buf.add(records(3))
    assert buf.recutting and buf.cut() is None
    chunk = buf.cut(force=True)
    assert chunk is not None and (chunk.start_offset, chunk.end_offset) == (0, 3) and not buf.recutting


def test_offsets_without_a_record_become_blank_lines_and_count_toward_the_flush_size() -> None:
    # a Kafka transaction's commit marker takes an offset: a read_committed reader never sees it
    buf = PartitionBuffer(TP, flush_size=5)
    gapped = [r for r in records(9) if r.offset not in (2, 5, 6)]  # 0 1 _ 3 4 | _ _ 7 8
    closed = buf.add(gapped)
    assert spans(closed) == [(0, 5)]
    assert closed[0].values == [b'{"i":0}', b'{"i":1}', NO_RECORD, b'{"i":3}', b'{"i":4}']
    assert closed[0].records == 4
    # a gap at a file's start is not written: the next file starts at its first record
    assert buf.next_offset == 9 and buf.values == [b'{"i":7}', b'{"i":8}']
    chunk = buf.cut()
    assert chunk is not None and (chunk.start_offset, chunk.end_offset) == (7, 9)
