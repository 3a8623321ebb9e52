import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from camera_gateway.spool import Record, Spool, SpoolCorrupt, SpoolFull

REPO_ROOT = Path(__file__).resolve().parents[2]


def records(start: int, stop: int) -> list[Record]:
    return [Record(key=b"camera-%d" % (i % 3), value=b"heartbeat %d" % i) for i in range(start, stop)]


def drain(spool: Spool, batch: int = 7) -> list[Record]:
    forwarded: list[Record] = []
    while batch_records := spool.peek(batch):
        forwarded += batch_records
        spool.advance(len(batch_records))
    return forwarded


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def encoded(tmp_path: Path, record: Record) -> bytes:
    """The bytes one record takes on disk, learnt from a throwaway spool rather than the private encoder."""
    with Spool(tmp_path / "scratch") as scratch:
        scratch.append([record])
    return segment_files(tmp_path / "scratch")[0].read_bytes()


def test_records_come_back_in_order_across_segment_rotation(tmp_path: Path) -> None:
    expected = records(0, 60)
    with Spool(tmp_path, segment_bytes=300) as spool:
        for start in range(0, 60, 4):
            spool.append(expected[start : start + 4])
        assert len(segment_files(tmp_path)) > 3
        assert spool.peek(5) == expected[:5]
        assert spool.peek(5) == expected[:5], "peek does not consume"
        assert drain(spool) == expected


def test_a_batch_is_never_split_across_segments(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=100) as spool:
        spool.append(records(0, 2))
        spool.append(records(2, 12))
        sizes = [path.stat().st_size for path in segment_files(tmp_path)]
        assert len(sizes) == 2 and sizes[1] > 100, "a batch bigger than a segment goes whole into a fresh one"
        assert drain(spool) == records(0, 12)


def test_reopening_resumes_from_the_head_with_nothing_lost_or_forwarded_twice(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=200) as spool:
        spool.append(records(0, 20))
        spool.advance(len(spool.peek(9)))
        pending_bytes = spool.pending_bytes

    with Spool(tmp_path, segment_bytes=200) as reopened:
        assert (reopened.pending_records, reopened.pending_bytes) == (11, pending_bytes)
        assert drain(reopened) == records(9, 20)

    with Spool(tmp_path) as again:
        assert again.is_empty()
        assert again.peek(10) == []


def test_a_half_written_record_at_the_tail_is_cut_off_and_earlier_records_survive(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    with Spool(directory) as spool:
        spool.append(records(0, 3))
    last_segment = segment_files(directory)[-1]
    intact_size = last_segment.stat().st_size
    torn = encoded(tmp_path, records(3, 4)[0])
    with last_segment.open("ab") as f:
        f.write(torn[: len(torn) // 2])

    with Spool(directory) as reopened:
        assert last_segment.stat().st_size == intact_size
        assert reopened.pending_records == 3
        reopened.append(records(3, 5))

    with Spool(directory) as again:
        assert drain(again) == records(0, 5)


def test_a_tail_cut_at_any_byte_keeps_exactly_the_whole_records_before_the_cut(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    with Spool(directory) as spool:
        spool.append(records(0, 1))
        spool.append(records(1, 3))
    segment = segment_files(directory)[0]
    intact = segment.read_bytes()
    record_ends = [len(encoded(tmp_path / str(n), r)) for n, r in enumerate(records(0, 3))]
    record_ends = [sum(record_ends[: i + 1]) for i in range(3)]

    for cut in range(len(intact) + 1):
        segment.write_bytes(intact[:cut])
        with Spool(directory) as reopened:
            assert reopened.peek(10) == records(0, sum(end <= cut for end in record_ends)), f"cut at byte {cut}"


def test_a_tail_record_with_a_bad_checksum_is_cut_off(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(records(0, 3))
    last_segment = segment_files(tmp_path)[-1]
    damaged = bytearray(last_segment.read_bytes())
    damaged[-1] ^= 0xFF
    last_segment.write_bytes(bytes(damaged))

    with Spool(tmp_path) as reopened:
        assert reopened.peek(10) == records(0, 2)
        reopened.append(records(5, 6))
        assert reopened.peek(10) == records(0, 2) + records(5, 6)


def test_damage_before_the_last_segment_is_reported_not_dropped(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=100) as spool:
        for start in range(0, 12, 3):
            spool.append(records(start, start + 3))
    first_segment = segment_files(tmp_path)[0]
    damaged = bytearray(first_segment.read_bytes())
    damaged[-1] ^= 0xFF
    first_segment.write_bytes(bytes(damaged))

    with pytest.raises(SpoolCorrupt, match="segment 1"):
        Spool(tmp_path, segment_bytes=100)


def test_a_full_spool_refuses_the_whole_batch_and_accepts_it_again_after_advance(tmp_path: Path) -> None:
    one_record = len(encoded(tmp_path, records(0, 1)[0]))
    directory = tmp_path / "spool"
    with Spool(directory, max_bytes=5 * one_record) as spool:
        spool.append(records(0, 4))
        on_disk = [path.read_bytes() for path in segment_files(directory)]

        with pytest.raises(SpoolFull):
            spool.append(records(4, 6))

        assert spool.pending_records == 4
        assert [path.read_bytes() for path in segment_files(directory)] == on_disk, "nothing partial written"
        spool.advance(1)
        spool.append(records(4, 6))
        assert drain(spool) == records(1, 6)


def test_forwarded_segments_are_deleted_from_disk(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=100) as spool:
        for start in range(0, 12, 3):
            spool.append(records(start, start + 3))
        segments = segment_files(tmp_path)
        assert len(segments) == 4

        spool.advance(4)
        assert segment_files(tmp_path) == segments[1:]
        spool.advance(spool.pending_records)
        assert segment_files(tmp_path) == segments[-1:], "the segment being written stays"

        spool.append(records(12, 15))
        # The drained segment goes when the next append rotates past it.
        assert [path.name for path in segment_files(tmp_path)] == ["00000000000000000005.seg"]


def test_a_forwarded_segment_left_behind_by_a_crash_is_deleted_at_open(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=100) as spool:
        for start in range(0, 9, 3):
            spool.append(records(start, start + 3))
        first_segment = segment_files(tmp_path)[0]
        forwarded_bytes = first_segment.read_bytes()
        spool.advance(3)
    first_segment.write_bytes(forwarded_bytes)  # as if the crash came between writing the head and deleting

    with Spool(tmp_path, segment_bytes=100) as reopened:
        assert not first_segment.exists()
        assert drain(reopened) == records(3, 9)


def test_an_empty_spool_is_empty_with_nothing_pending(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        assert spool.is_empty()
        assert (spool.pending_records, spool.pending_bytes) == (0, 0)
        assert spool.peek(10) == []
        spool.append([])
        assert spool.is_empty()


def test_advancing_past_what_is_pending_is_refused(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(records(0, 2))
        with pytest.raises(ValueError, match="cannot advance 3"):
            spool.advance(3)
        assert spool.peek(10) == records(0, 2)


def test_a_second_spool_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    with Spool(tmp_path), pytest.raises(RuntimeError, match="already open"):
        Spool(tmp_path)
    Spool(tmp_path).close()


def test_appends_from_many_threads_all_land_in_each_threads_order(tmp_path: Path) -> None:
    def append_many(thread: int) -> None:
        for i in range(50):
            spool.append([Record(b"%d" % thread, b"%d" % i)])

    with Spool(tmp_path, segment_bytes=1000) as spool:
        threads = [threading.Thread(target=append_many, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        forwarded = drain(spool, batch=33)

    for n in range(4):
        assert [r.value for r in forwarded if r.key == b"%d" % n] == [b"%d" % i for i in range(50)]


APPEND_FOREVER = """
import sys
from pathlib import Path
from camera_gateway.spool import Record, Spool

spool = Spool(Path(sys.argv[1]), segment_bytes=2048)
n = 0
while True:
    spool.append([Record(b"k", b"%d" % n), Record(b"k", b"%d" % (n + 1))])
    n += 2
    print(n, flush=True)
"""


def test_a_killed_process_loses_none_of_the_appends_that_returned(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", APPEND_FOREVER, str(tmp_path)], cwd=REPO_ROOT, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    output = b""
    deadline = time.monotonic() + 30
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while output.count(b"\n") < 300 and process.poll() is None and time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                output += os.read(process.stdout.fileno(), 65536)
    process.kill()  # SIGKILL, mid-append most likely
    output += process.stdout.read()
    process.stdout.close()
    assert process.wait(timeout=30) == -9, "the appender must still have been running"
    acknowledged = int(output[: output.rindex(b"\n")].split()[-1])  # a line cut by the kill acknowledged nothing
    assert acknowledged >= 600

    with Spool(tmp_path) as recovered:
        values = [int(record.value) for record in recovered.peek(recovered.pending_records)]
    assert values[:acknowledged] == list(range(acknowledged))
    assert values == list(range(len(values))), "at most a not-yet-acknowledged batch follows, in order"
