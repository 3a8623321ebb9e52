"""The gateway's on-disk spool: heartbeats acknowledged while Kafka is unreachable wait here, in order.

The gateway answers 202 only once a heartbeat is in Kafka (acks=all) or appended here and fsynced, so nothing
acknowledged may be lost however the process dies. One forwarder `peek`s at the head, sends to Kafka, then
`advance`s; delivery is at least once (ingest stores duplicates once). `peek` returns bare records and
`advance` takes a count: one in-order forwarder needs no more, and positions stay private.

- `NNNNNNNNNNNNNNNNNNNN.seg`: append-only segments of records: a header (magic, key length, value length, crc32
  of lengths, key and value), key, value. Rotation happens before a batch that would push a non-empty segment
  past `segment_bytes`, so a batch never spans segments and only the last one can have a torn tail (a write
  never fsynced, hence never acknowledged), which open truncates. A bad record in an earlier segment is damage
  to acknowledged data: `SpoolCorrupt`, never a silent drop.
- `head`: "segment offset" of the next unforwarded record, replaced atomically (temp file, fsync, rename, fsync
  directory). Older segments are deleted after it is written, and again at open if a crash came in between.
- `lock`: flock'ed while open, so two processes never interleave writes.

`max_bytes` bounds pending bytes (headers included); disk use can exceed it by the forwarded part of the head
segment. Pending counts are rebuilt at open by scanning from the head: fine for a spool of a gigabyte or so.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

_MAGIC = b"CPS1"
_HEADER = struct.Struct(">4sIII")  # magic, key length, value length, crc32
_LENGTHS = struct.Struct(">II")


@dataclass(frozen=True)
class Record:
    key: bytes
    value: bytes


class SpoolFull(Exception):
    """Appending would exceed `max_bytes`; nothing was written (the HTTP layer answers 503 + Retry-After)."""


class SpoolInUse(RuntimeError):
    """Another process (or this one) has the spool open: two gateways must never share one."""


class SpoolCorrupt(Exception):
    """Acknowledged data on disk is damaged (not a torn tail); an operator has to look."""


class _Position(NamedTuple):
    segment: int
    offset: int


def _encode(record: Record) -> bytes:
    lengths = _LENGTHS.pack(len(record.key), len(record.value))
    crc = zlib.crc32(record.value, zlib.crc32(record.key, zlib.crc32(lengths)))
    return _MAGIC + lengths + struct.pack(">I", crc) + record.key + record.value


def _scan(path: Path, offset: int, stop: int) -> Iterator[tuple[int, Record]]:
    """Yields (offset after the record, record) from `offset` up to `stop`, ending early at the first record
    that is torn or fails its checksum."""
    with path.open("rb") as f:
        f.seek(offset)
        while offset < stop:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return
            magic, key_length, value_length, crc = _HEADER.unpack(header)
            payload = f.read(key_length + value_length)
            torn = magic != _MAGIC or len(payload) < key_length + value_length
            if torn or zlib.crc32(payload, zlib.crc32(header[4:12])) != crc:
                return
            offset += _HEADER.size + len(payload)
            yield offset, Record(payload[:key_length], payload[key_length:])


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int = 1 << 30, segment_bytes: int = 64 << 20) -> None:
        """Opens (creating if needed) the spool in `directory` and recovers after a crash: a torn or corrupt
        record at the tail of the last segment is truncated away; everything before it is kept."""
        self._dir = Path(directory)
        self._max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._failure: str | None = None
        self._dir.mkdir(parents=True, exist_ok=True)
        _fsync_directory(self._dir.parent)  # a directory created just now must itself survive a power cut
        self._lock_fd: int | None = os.open(self._dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        self._writer: int | None = None
        try:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise SpoolInUse(f"spool {self._dir} is already open (in this or another process)") from exc
            self._recover()
        except BaseException:
            self.close()
            raise

    def _recover(self) -> None:
        segments = sorted(int(p.stem) for p in self._dir.glob("*.seg") if p.stem.isdigit())
        self._head = self._read_head(_Position(segments[0] if segments else 1, 0))
        for number in segments:
            if number < self._head.segment:
                self._path(number).unlink()  # forwarded; a crash came before its deletion
        live = [n for n in segments if n >= self._head.segment]
        if not live or live[0] != self._head.segment:
            if live or self._head.offset:
                raise SpoolCorrupt(f"{self._dir}: the head's segment {self._head.segment} is missing")
            live = [self._head.segment]
            self._path(self._head.segment).touch()
        self._sizes: dict[int, int] = {}
        self._pending_records = self._pending_bytes = 0
        for number in live:
            start = self._head.offset if number == self._head.segment else 0
            size = self._path(number).stat().st_size
            if start > size:
                raise SpoolCorrupt(f"{self._dir}: the head is past the end of segment {number}")
            end = start
            for position, _ in _scan(self._path(number), start, size):
                end, self._pending_records = position, self._pending_records + 1
            if end < size and number != live[-1]:
                raise SpoolCorrupt(f"{self._dir}: bad record in segment {number} at byte {end}")
            self._sizes[number] = end
            self._pending_bytes += end - start
        self._writer = os.open(self._path(live[-1]), os.O_WRONLY | os.O_APPEND, 0o644)
        torn_bytes = os.fstat(self._writer).st_size - self._sizes[live[-1]]
        if torn_bytes:
            log.warning("spool %s: cutting %d torn bytes off segment %d", self._dir, torn_bytes, live[-1])
            os.ftruncate(self._writer, self._sizes[live[-1]])
        os.fsync(self._writer)
        _fsync_directory(self._dir)

    def _read_head(self, default: _Position) -> _Position:
        try:
            segment, offset = (int(field) for field in (self._dir / "head").read_text().split())
        except FileNotFoundError:
            return default  # never advanced, so no segment was ever deleted
        except ValueError as exc:
            raise SpoolCorrupt(f"{self._dir}/head is unreadable: {exc}") from exc
        return _Position(segment, offset)

    def _path(self, segment: int) -> Path:
        return self._dir / f"{segment:020d}.seg"

    @property
    def _active(self) -> int:
        return max(self._sizes)

    def _check_usable(self) -> int:
        if self._failure:
            raise OSError(self._failure)
        if self._writer is None:
            raise ValueError("the spool is closed")
        return self._writer

    def append(self, records: Sequence[Record]) -> None:
        """Appends all records, then fsyncs once (group commit) before returning. Raises SpoolFull, appending
        nothing, if they would take the pending bytes past `max_bytes`."""
        data = b"".join(_encode(record) for record in records)
        with self._lock:
            writer = self._check_usable()
            if not records:
                return
            if self._pending_bytes + len(data) > self._max_bytes:
                raise SpoolFull(f"{self._pending_bytes} bytes pending + {len(data)} > max {self._max_bytes}")
            if self._sizes[self._active] and self._sizes[self._active] + len(data) > self._segment_bytes:
                writer = self._rotate()
            size = self._sizes[self._active]
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(writer, view) :]
                os.fsync(writer)
            except BaseException:
                # Bytes left by a failed append would sit before the next acknowledged batch, and recovery,
                # which stops at the first bad record, would then cut that batch away.
                try:
                    os.ftruncate(writer, size)
                    os.fsync(writer)
                except OSError as rollback_error:
                    self._failure = f"spool {self._dir} unusable after a failed write: {rollback_error}"
                raise
            self._sizes[self._active] = size + len(data)
            self._pending_records += len(records)
            self._pending_bytes += len(data)

    def _rotate(self) -> int:
        assert self._writer is not None
        old = self._active
        os.close(self._writer)
        self._writer = None  # so that a failed open leaves the spool unusable, not writing to a stale descriptor
        self._writer = os.open(self._path(old + 1), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _fsync_directory(self._dir)  # the new segment's name must be durable before records in it are
        self._sizes[old + 1] = 0
        if self._head == _Position(old, self._sizes[old]):
            self._move_head(_Position(old + 1, 0))  # the old segment is fully forwarded: free it now
        return self._writer

    def peek(self, max_records: int) -> list[Record]:
        """Up to `max_records` records from the head, oldest first, without consuming them."""
        with self._lock:
            self._check_usable()
            return [record for _, record in self._walk(max_records)]

    def advance(self, count: int) -> None:
        """Marks the first `count` records as forwarded, persists the new head durably and deletes segments
        that are fully forwarded."""
        with self._lock:
            self._check_usable()
            if not 0 <= count <= self._pending_records:
                raise ValueError(f"cannot advance {count} records, {self._pending_records} pending")
            if count == 0:
                return
            head, freed = self._head, 0
            for position, record in self._walk(count):
                head, freed = position, freed + _HEADER.size + len(record.key) + len(record.value)
            while head.offset == self._sizes[head.segment] and head.segment != self._active:
                head = _Position(head.segment + 1, 0)
            self._move_head(head)
            self._pending_records -= count
            self._pending_bytes -= freed

    def _walk(self, count: int) -> Iterator[tuple[_Position, Record]]:
        for number in sorted(n for n in self._sizes if n >= self._head.segment):
            if count <= 0:
                return
            end = start = self._head.offset if number == self._head.segment else 0
            for end, record in _scan(self._path(number), start, self._sizes[number]):
                yield _Position(number, end), record
                count -= 1
                if count == 0:
                    return
            if end != self._sizes[number]:
                raise SpoolCorrupt(f"{self._dir}: bad record in segment {number} at byte {end}")

    def _move_head(self, head: _Position) -> None:
        temporary = self._dir / "head.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, f"{head.segment} {head.offset}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self._dir / "head")
        _fsync_directory(self._dir)
        self._head = head
        # A deletion lost in a crash is harmless: open deletes segments before the head again.
        for number in [n for n in self._sizes if n < head.segment]:
            del self._sizes[number]
            self._path(number).unlink()

    @property
    def pending_records(self) -> int:
        with self._lock:
            return self._pending_records

    @property
    def pending_bytes(self) -> int:
        with self._lock:
            return self._pending_bytes

    def is_empty(self) -> bool:
        return self.pending_records == 0

    def close(self) -> None:
        with self._lock:
            for fd in (self._writer, self._lock_fd):
                if fd is not None:
                    os.close(fd)
            self._writer = self._lock_fd = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
