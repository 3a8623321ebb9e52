"""The incremental multipart reader (camera_gateway/devices/multipart.py) on the shapes cameras really send."""

import pytest

from camera_gateway.devices.multipart import MultipartReader, Part, Skipped, boundary_of


def feed_in_pieces(reader: MultipartReader, data: bytes, size: int) -> list[Part | Skipped]:
    out: list[Part | Skipped] = []
    for i in range(0, len(data), size):
        out += reader.feed(data[i : i + size])
    return out


@pytest.mark.parametrize(
    ("header", "boundary"),
    [
        ("multipart/mixed; boundary=boundary", "boundary"),
        ('multipart/x-mixed-replace; boundary="myboundary"', "myboundary"),
        ("multipart/mixed;boundary=--boundary", "boundary"),
        ("application/xml", None),
    ],
)
def test_it_reads_the_boundary_however_the_device_writes_it(header: str, boundary: str | None) -> None:
    assert boundary_of(header) == boundary


@pytest.mark.parametrize("piece", [1, 7, 1000])
def test_parts_come_out_whole_however_the_bytes_are_cut(piece: int) -> None:
    stream = (
        b"junk before\r\n--boundary\r\nContent-Type: application/xml\r\nContent-Length: 6\r\n\r\n<a/>\r\n\r\n"
        b"--boundary\nContent-Type: text/plain\n\nHeartbeat\n"  # LF only, no length
        b"--boundary\r\nContent-Type: image/jpeg\r\nContent-Length: 4\r\n\r\n\xff\xd8\xff\xd9\r\n"
        b"--boundary\r\n"
    )
    parts = feed_in_pieces(MultipartReader("boundary"), stream, piece)
    assert [(p.content_type, p.body) for p in parts if isinstance(p, Part)] == [
        ("application/xml", b"<a/>\r\n"),
        ("text/plain", b"Heartbeat"),
        ("image/jpeg", b"\xff\xd8\xff\xd9"),
    ]


def test_a_part_is_handed_out_as_soon_as_its_length_is_in() -> None:
    reader = MultipartReader("b")
    assert reader.feed(b"--b\r\nContent-Length: 9\r\n\r\nHeartbeat") == [Part({"content-length": "9"}, b"Heartbeat")]


def test_a_boundary_before_the_announced_length_ends_the_part() -> None:
    reader = MultipartReader("myboundary")
    parts = reader.feed(
        b"--myboundary\r\nContent-Length: 90\r\n\r\nCode=VideoLoss;action=Start;index=0\r\n--myboundary\r\n"
    )
    assert parts == [Part({"content-length": "90"}, b"Code=VideoLoss;action=Start;index=0")]


def test_an_oversized_part_is_skipped_without_buffering_it_and_the_stream_goes_on() -> None:
    reader = MultipartReader("b", max_part=100)
    out = reader.feed(b"--b\r\nContent-Length: 5000\r\n\r\n" + b"x" * 1000)
    assert out == [Skipped("part of 5000 bytes is over the 100-byte bound")]
    assert len(reader._buf) <= 10
    out = reader.feed(b"x" * 4000 + b"\r\n--b\r\nContent-Length: 2\r\n\r\nok")
    assert out == [Part({"content-length": "2"}, b"ok")]


def test_a_part_without_length_or_boundary_is_bounded_too() -> None:
    reader = MultipartReader("b", max_part=100)
    out = feed_in_pieces(reader, b"--b\r\n\r\n" + b"y" * 500, 50)
    assert out == [Skipped("part without a boundary within 100 bytes")]


def test_the_closing_boundary_ends_the_stream() -> None:
    reader = MultipartReader("b")
    assert reader.feed(b"--b\r\nContent-Length: 1\r\n\r\nz\r\n--b--\r\n") == [Part({"content-length": "1"}, b"z")]
    assert reader.ended
