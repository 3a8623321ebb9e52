"""An incremental reader of the never-ending multipart streams cameras send (`multipart/mixed` from Hikvision's
alertStream, `multipart/x-mixed-replace` from Dahua's eventManager). Sans-I/O and pure: `feed` bytes as they
arrive, get the parts that are complete.

A part is handed out as soon as its `Content-Length` bytes are in, not when the next boundary comes (that may be
a heartbeat period later). Devices get the details wrong in the field, so: a part without `Content-Length` ends
at the next boundary; a boundary that comes before the announced length ends the part there (Dahua firmware
that miscounts); line ends may be CRLF or LF; text before the first boundary is ignored. Sizes are bounded: a
part over `max_part` bytes or a header block over `max_header` is skipped (its bytes discarded as they come, a
`Skipped` with the reason handed out once), so a hostile or broken device cannot make the gateway buffer it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LENGTH = re.compile(rb"^\s*(\d{1,12})\s*$")


@dataclass(frozen=True, slots=True)
class Part:
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str


def boundary_of(content_type: str) -> str | None:
    """The boundary parameter of a multipart Content-Type header, unquoted; None if there is none."""
    match = re.search(r'boundary\s*=\s*("([^"]+)"|[^;\s]+)', content_type, re.IGNORECASE)
    if match is None:
        return None
    value = match.group(2) or match.group(1)
    return value.removeprefix("--") if value.startswith("--") else value


class MultipartReader:
    def __init__(self, boundary: str, *, max_part: int = 1 << 20, max_header: int = 8192) -> None:
        self.marker = b"--" + boundary.encode("latin-1")
        self.max_part = max_part
        self.max_header = max_header
        self._buf = bytearray()
        self._state = "seek"  # seek → headers → body → seek …; "discard" skips an oversized body
        self._headers: dict[str, str] = {}
        self._length: int | None = None
        self._to_discard = 0
        self.ended = False  # the closing boundary (`--boundary--`) was seen

    def feed(self, data: bytes) -> list[Part | Skipped]:
        if self.ended:
            return []  # past the closing boundary: nothing more is a part, and nothing is kept
        self._buf += data
        out: list[Part | Skipped] = []
        while not self.ended:
            step = getattr(self, f"_on_{self._state}")()
            if step is None:
                break
            if step is not True:
                out.append(step)
        return out

    # Each state returns None (need more bytes), True (moved on) or a Part/Skipped to hand out.

    def _on_seek(self) -> bool | None:
        at = self._buf.find(self.marker)
        if at < 0:
            # keep a tail that may be the start of a marker split across reads
            del self._buf[: max(0, len(self._buf) - len(self.marker))]
            return None
        eol = self._buf.find(b"\n", at)
        if (eol < 0 and len(self._buf) - at > self.max_header) or eol - at > self.max_header:
            # not a boundary line (a boundary line is short): look for the next marker after this one
            del self._buf[: at + len(self.marker)]
            return True
        if eol < 0:
            return None
        line = bytes(self._buf[at + len(self.marker) : eol]).strip()
        del self._buf[: eol + 1]
        if line.startswith(b"--"):
            self.ended = True
            self._buf.clear()
            return None
        self._state = "headers"
        return True

    def _headers_end(self) -> tuple[int, int] | None:
        """Where the header block ends (position, separator length): the earliest blank line, CRLF or LF."""
        if self._buf.startswith(b"\r\n") or self._buf.startswith(b"\n"):
            return 0, 2 if self._buf.startswith(b"\r\n") else 1  # a part with no headers at all
        found = [(at, len(sep)) for sep in (b"\r\n\r\n", b"\n\n", b"\n\r\n") if (at := self._buf.find(sep)) >= 0]
        return min(found) if found else None

    def _on_headers(self) -> bool | Skipped | None:
        found = self._headers_end()
        # Too long whether or not its end has arrived (a blank line of up to 4 bytes may follow `max_header`):
        # skipped from here to the next boundary either way, so how the bytes were cut does not matter.
        if (found is None and len(self._buf) >= self.max_header + 4) or (found and found[0] > self.max_header):
            self._state = "seek"
            return Skipped(f"part headers over {self.max_header} bytes")
        if found is None:
            return None
        at, sep = found
        headers: dict[str, str] = {}
        for raw in bytes(self._buf[:at]).split(b"\n"):
            name, colon, value = raw.decode("latin-1").partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        del self._buf[: at + sep]
        self._headers = headers
        length = _LENGTH.match(headers.get("content-length", "").encode("latin-1"))
        self._length = int(length.group(1)) if length else None
        if self._length is not None and self._length > self.max_part:
            self._to_discard = self._length
            self._state = "discard"
            return Skipped(f"part of {self._length} bytes is over the {self.max_part}-byte bound")
        self._state = "body"
        return True

    def _on_body(self) -> Part | Skipped | None:
        length = self._length
        window = self._buf if length is None else self._buf[: length + len(self.marker) + 2]
        at = window.find(self.marker)
        if at > self.max_part and length is None:
            del self._buf[:at]  # a body without a length over the bound: skipped, the marker stays
            self._state = "seek"
            return Skipped(f"part without a boundary within {self.max_part} bytes")
        if at >= 0 and (length is None or at < length):
            body = bytes(self._buf[:at])
            del self._buf[:at]  # the marker stays for `_on_seek`
            self._state = "seek"
            return Part(self._headers, _strip_eol(body))
        if length is not None and len(self._buf) >= length and not self._marker_may_start_before(length):
            body = bytes(self._buf[:length])
            del self._buf[:length]
            self._state = "seek"
            return Part(self._headers, body)
        if length is None and len(self._buf) >= self.max_part + len(self.marker) + 1:
            # no marker begins within the bound (it would be whole by now): the body is over it
            self._state = "seek"
            del self._buf[: len(self._buf) - len(self.marker)]
            return Skipped(f"part without a boundary within {self.max_part} bytes")
        return None

    def _marker_may_start_before(self, length: int) -> bool:
        """Whether the bytes up to `length` end with the start of a marker whose rest has not arrived yet (then
        whether the part ends early is not known; bodies seldom end in "-", so this rarely waits)."""
        size = len(self.marker)
        for start in range(max(0, length - size + 1), length):
            if len(self._buf) < start + size and self.marker.startswith(bytes(self._buf[start:length])):
                return True
        return False

    def _on_discard(self) -> bool | None:
        at = self._buf.find(self.marker)
        if 0 <= at < self._to_discard:  # the device lied about the length: the next part starts here
            del self._buf[:at]
            self._state = "seek"
            return True
        taken = min(self._to_discard, max(0, len(self._buf) - len(self.marker)))
        del self._buf[:taken]
        self._to_discard -= taken
        if self._to_discard:
            return None
        self._state = "seek"
        return True


def _strip_eol(body: bytes) -> bytes:
    if body.endswith(b"\r\n"):
        return body[:-2]
    return body[:-1] if body.endswith(b"\n") else body
