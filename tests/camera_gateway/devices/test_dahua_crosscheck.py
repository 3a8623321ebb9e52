"""Our Dahua parser against python-amcrest's own reader of the same stream (`amcrest/event.py`), on the same raw
fixture bytes.

amcrest reads the stream a character at a time, and after each `Content-Length:` line takes that many characters
plus two (`event_stream`), then splits the text on `key=value;` with one regular expression (`_build_payload`). It
is driven here without a network: only its HTTP fetch (`Http.command`) is replaced by the fixture's bytes; the
parsing is its own code, unpatched.

Where both read a variant, they agree on (Code, action, index). Where amcrest cannot, the test says what it does:
- a `Heartbeat` part has no `Code`, so `_build_payload` raises KeyError and `event_actions` ends with it (amcrest
  never asks for `heartbeat=N`, so in its own use it never meets one);
- JSON data holding a `;` is cut there: the data stays a string and the rest of the JSON becomes bogus keys;
- several `Code=` records in one part collapse into one payload, later keys overwriting earlier ones;
- a Content-Length larger than the part makes it swallow the next part(s) whole.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from amcrest.event import Event
from amcrest.http import Http

from camera_gateway.devices import dahua
from camera_gateway.devices.multipart import MultipartReader, Part

FIXTURES = Path(__file__).parent / "fixtures" / "dahua"
STORAGE = {"StorageNotExist", "StorageFailure", "StorageLowSpace"}
Triple = tuple[str, str, str | None]


class _Replay:
    """What `requests.Response` gives amcrest: text in chunks of the size it asks for, one read position shared by
    every `iter_content` call (amcrest opens two iterators on one response)."""

    encoding = "utf-8"

    def __init__(self, raw: bytes) -> None:
        self._text = io.StringIO(raw.decode("utf-8"), newline="")

    def iter_content(self, chunk_size: int | None = 1, decode_unicode: bool = False) -> Iterator[str]:
        while chunk := self._text.read(chunk_size or 1):
            yield chunk

    def close(self) -> None:
        pass


class _FixtureCamera(Event, Http):
    def __init__(self, raw: bytes) -> None:
        Http.__init__(self, "127.0.0.1", 80, "admin", "not-used")
        self._raw = raw

    def command(self, *args: Any, **kwargs: Any) -> Any:  # the only thing replaced: the HTTP fetch
        return _Replay(self._raw)


def amcrest_payloads(name: str) -> list[dict[str, Any] | KeyError]:
    camera = _FixtureCamera((FIXTURES / name).read_bytes())
    out: list[dict[str, Any] | KeyError] = []
    for info in camera.event_stream("All"):
        try:
            out.append(camera._build_payload(info))
        except KeyError as exc:
            out.append(exc)
    return out


def amcrest_triples(name: str) -> list[Triple]:
    return [
        (p["Code"], p["action"], None if p["Code"] in STORAGE else p["index"])
        for p in amcrest_payloads(name)
        if isinstance(p, dict)
    ]


def our_triples(name: str) -> list[Triple]:
    """One (Code, action, index) per record, as amcrest names them; heartbeats left out (amcrest has none)."""
    reader = MultipartReader("myboundary")
    out: list[Triple] = []
    for part in reader.feed((FIXTURES / name).read_bytes()):
        assert isinstance(part, Part)
        for event in dahua.parse_part(part.body):
            if event.code == "Heartbeat":
                continue
            action = "Pulse" if not event.holds else "Start" if event.active else "Stop"
            triple = (event.code, action, None if event.channel is None else str(int(event.channel) - 1))
            if not out or out[-1] != triple:  # a Stop without a kind is three of our events, one record
                out.append(triple)
    return out


@pytest.mark.parametrize("name", ["start_stop.txt", "storage.txt", "video_abnormal.txt", "pulse_with_data.txt"])
def test_amcrest_reads_the_same_code_action_and_index_as_we_do(name: str):
    ours = our_triples(name)
    assert ours  # not vacuous
    assert amcrest_triples(name) == ours


def test_amcrest_cannot_read_a_heartbeat_part_and_its_event_actions_ends_on_it():
    payloads = amcrest_payloads("heartbeats.txt")
    assert len(payloads) == 3 and all(isinstance(p, KeyError) for p in payloads)
    with pytest.raises(KeyError, match="Code"):
        list(_FixtureCamera((FIXTURES / "heartbeats.txt").read_bytes()).event_actions("All"))


def test_amcrest_keeps_data_with_a_semicolon_as_a_cut_string_where_we_keep_the_event_whole():
    motion_start, crossing = amcrest_payloads("pulse_with_data.txt")[:2]
    assert isinstance(motion_start, dict) and isinstance(crossing, dict)
    assert isinstance(motion_start["data"], dict)  # JSON without ';' is read fine
    assert isinstance(crossing["data"], str) and crossing["data"].endswith('"Drive')
    assert any("Gate" in key for key in crossing)  # the rest of the JSON became keys


def test_amcrest_collapses_several_codes_in_one_part_into_one_mixed_payload():
    assert amcrest_triples("several_codes_in_one_part.txt") == [
        ("VideoLoss", "Start", "1"),  # the index-0 record is lost
        ("VideoMotion", "Start", "2"),  # VideoMotion's code with VideoBlind's action and index
    ]
    assert our_triples("several_codes_in_one_part.txt") == [
        ("VideoLoss", "Start", "0"),
        ("VideoLoss", "Start", "1"),
        ("VideoMotion", "Stop", "0"),
        ("VideoBlind", "Start", "2"),
    ]


def test_amcrest_swallows_the_next_parts_when_content_length_is_too_large():
    payloads = amcrest_payloads("wrong_content_length.txt")
    assert len(payloads) == 1 and isinstance(payloads[0], dict)
    assert payloads[0]["Code"] == "VideoAbnormalDetection"
    assert "--myboundary" in payloads[0]["index"]  # the next part's bytes ended up in a value
    assert our_triples("wrong_content_length.txt") == [
        ("VideoAbnormalDetection", "Start", "0"),
        ("VideoLoss", "Start", "5"),
    ]
