"""Camera clouds: the pure parsers on real replies, then the sessions against the loopback clouds of
`cloud_emulator` — statuses reported, cameras that leave the account reported absent, tokens refreshed, refused
credentials backed off, a dead cloud unreachable.
Time is the test's: sessions take a clock and a sleep, and the clouds expire tokens by the same clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from camera_gateway.devices import ezviz, imou, protocols
from camera_gateway.devices.clouds import ABSENT, absent_cameras
from camera_gateway.devices.connection import (
    AuthFailed,
    Backoff,
    DeviceConfig,
    ProtocolError,
    Unreachable,
    run_forever,
)
from camera_gateway.devices.events import DeviceEvent, Signal
from camera_gateway.devices.ezviz import ezviz_serials, parse_ezviz_devices
from camera_gateway.devices.imou import imou_serials, parse_imou_online
from camera_gateway.devices.tracker import DeviceTracker
from tests.camera_gateway.devices.cloud_emulator import EzvizCloud, ImouCloud
from tests.camera_gateway.devices.emulator import RecordingReporter

FIXTURES = Path(__file__).parent / "fixtures" / "clouds"
KEY, SECRET = "9mqitppidgce4y8n54ranvyqc9fjtsrl", "096e76501644989b63ba0016ec5776"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def state(events: list[DeviceEvent], serial: str) -> dict[Signal, bool]:
    """The last word on each alarm of one camera."""
    return {e.signal: e.active for e in events if e.channel == serial}


class Stop(Exception):
    """Ends a session from its sleep: the test has seen enough polls."""


class FakeTime:
    def __init__(self, polls: int, start: float = 1_700_000_000.0, on_sleep: Callable[[int], None] | None = None):
        self.now, self.polls, self.on_sleep = start, polls, on_sleep
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if len(self.slept) >= self.polls:
            raise Stop
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.slept))


def cloud_device(kind: str, url: str, secret: str = SECRET, **options: Any) -> DeviceConfig:
    return DeviceConfig(
        device_id=7,
        name=f"{kind}-xa-an-binh",
        kind=kind,
        url=url,
        username=KEY,
        secret=secret,
        channels={"427734000": "cam-ubnd-cong"},
        options=options,
    )


# ---- parsers on real replies ----------------------------------------------------------------------------------


def test_an_ezviz_listing_says_which_cameras_are_online_and_which_are_down() -> None:
    events = parse_ezviz_devices(fixture("ezviz_device_list.json"))

    assert state(events, "427734000") == {Signal.OFFLINE: False, Signal.UPGRADING: False}
    assert state(events, "519266666") == {Signal.OFFLINE: True, Signal.UPGRADING: False}
    assert all(e.holds for e in events)
    assert {e.code for e in events} == {"status=1", "status=0"}


def test_an_ezviz_entry_it_cannot_read_is_a_problem_not_a_guess() -> None:
    payload = {"code": "200", "data": [{"deviceSerial": "A1", "status": 7}, {"status": 1}, {"deviceSerial": "B2"}]}
    problems: list[str] = []

    assert parse_ezviz_devices(payload, problems=problems) == []
    assert len(problems) == 3 and "A1" in problems[0] and "7" in problems[0]


def test_an_ezviz_reply_without_a_device_list_is_refused() -> None:
    with pytest.raises(ValueError, match="data"):
        parse_ezviz_devices(fixture("ezviz_token_expired.json"))


@pytest.mark.parametrize(
    ("name", "offline", "upgrading"),
    [
        ("imou_device_online_online.json", False, False),
        ("imou_device_online_offline.json", True, False),
        ("imou_device_online_upgrading.json", False, True),  # alive, no video for a while → degraded
        ("imou_device_online_sleeping.json", False, False),  # a battery camera asleep is in its normal state
    ],
)
def test_each_imou_online_state_has_one_meaning(name: str, offline: bool, upgrading: bool) -> None:
    events = parse_imou_online("8L0DF93PAZ55FD2", fixture(name))

    assert state(events, "8L0DF93PAZ55FD2") == {Signal.OFFLINE: offline, Signal.UPGRADING: upgrading}
    assert all(e.holds for e in events)


def test_an_unknown_imou_online_value_is_a_problem_and_a_missing_one_an_error() -> None:
    problems: list[str] = []
    reply = {"result": {"code": "0", "msg": "", "data": {"deviceId": "X", "onLine": "2"}}}

    assert parse_imou_online("X", reply, problems=problems) == []
    assert problems == ["Imou camera X: unknown onLine '2'"]
    with pytest.raises(ValueError, match="onLine"):
        parse_imou_online("X", {"result": {"code": "0", "data": {"deviceId": "X"}}})
    with pytest.raises(ValueError):
        parse_imou_online("X", fixture("imou_token_expired.json"))


def test_the_imou_listing_gives_serials_and_their_paging_cursor() -> None:
    assert imou_serials(fixture("imou_device_base_list.json")) == [("8L0DF93PAZ55FD2", 1)]


def test_a_camera_the_session_knows_but_the_listing_leaves_out_is_offline_and_held() -> None:
    events = absent_cameras({"C3", "A1", "B2"}, {"A1"})

    assert events == [
        DeviceEvent(Signal.OFFLINE, channel="B2", active=True, holds=True, code="absent from the account"),
        DeviceEvent(Signal.OFFLINE, channel="C3", active=True, holds=True, code="absent from the account"),
    ]
    assert absent_cameras(set(), {"A1", "B2"}) == []  # a camera first listed now is news, not an absence
    assert absent_cameras({"A1"}, {"A1", "B2"}) == []


def test_an_ezviz_camera_with_an_unreadable_status_is_still_listed() -> None:
    payload = {"code": "200", "data": [{"deviceSerial": "A1", "status": 7}, {"status": 1}, {"deviceSerial": "B2"}]}

    assert ezviz_serials(payload) == {"A1", "B2"}
    assert ezviz_serials(fixture("ezviz_device_list.json")) == {"427734000", "519266666"}


def test_both_clouds_are_offered_to_the_manager_by_kind() -> None:
    assert protocols.protocol("ezviz") == (ezviz.session, ezviz.check)
    assert protocols.protocol("imou") == (imou.session, imou.check)


# ---- EZVIZ sessions -------------------------------------------------------------------------------------------


async def test_an_ezviz_session_reports_every_camera_of_the_account_each_poll() -> None:
    statuses = {"427734000": 1, "519266666": 0, "F12345678": 1}  # the last two are not mapped
    async with EzvizCloud(KEY, SECRET, statuses) as cloud, httpx.AsyncClient(timeout=5) as client:
        time = FakeTime(polls=2)
        reporter = RecordingReporter()
        with pytest.raises(Stop):
            await ezviz.session(
                cloud_device("ezviz", cloud.url, poll_s=30), client, reporter, clock=time.clock, sleep=time.sleep
            )

    assert reporter.states == ["connected"]
    assert time.slept == [30.0, 30.0]
    assert [e for e in reporter.events_seen if e.signal is Signal.ALIVE] == [DeviceEvent(Signal.ALIVE, code="poll")] * 2
    assert state(reporter.events_seen, "427734000")[Signal.OFFLINE] is False
    assert state(reporter.events_seen, "519266666")[Signal.OFFLINE] is True
    assert state(reporter.events_seen, "F12345678")[Signal.OFFLINE] is False
    assert cloud.token_requests == 1 and cloud.refused == 0


async def test_an_ezviz_session_follows_a_status_change_and_pages_through_a_large_account() -> None:
    statuses = {f"S{i:08d}": 1 for i in range(120)}

    def camera_goes_down(polls: int) -> None:
        statuses["S00000119"] = 0

    async with EzvizCloud(KEY, SECRET, statuses) as cloud, httpx.AsyncClient(timeout=5) as client:
        time = FakeTime(polls=2, on_sleep=camera_goes_down)
        reporter = RecordingReporter()
        with pytest.raises(Stop):
            await ezviz.session(cloud_device("ezviz", cloud.url), client, reporter, clock=time.clock, sleep=time.sleep)

    offline = [e for e in reporter.events_seen if e.signal is Signal.OFFLINE and e.code != ABSENT]
    assert len(offline) == 240  # 120 cameras over three pages, twice
    assert [e.active for e in offline if e.channel == "S00000119"] == [False, True]
    # the mapped camera is not on this account: reported absent at each poll
    assert [e.channel for e in reporter.events_seen if e.code == ABSENT] == ["427734000"] * 2


async def test_an_ezviz_camera_removed_from_the_account_is_offline_until_it_is_listed_again() -> None:
    statuses = {"427734000": 1, "F12345678": 1}  # the second one is not mapped: known because it was listed

    def account_changes(polls: int) -> None:
        if polls == 1:
            del statuses["F12345678"]  # unbound from the account between two polls
        if polls == 2:
            statuses["F12345678"] = 1  # and bound again

    async with EzvizCloud(KEY, SECRET, statuses) as cloud, httpx.AsyncClient(timeout=5) as client:
        time = FakeTime(polls=3, on_sleep=account_changes)
        reporter = RecordingReporter()
        with pytest.raises(Stop):
            await ezviz.session(cloud_device("ezviz", cloud.url), client, reporter, clock=time.clock, sleep=time.sleep)

    offline = [e for e in reporter.events_seen if e.signal is Signal.OFFLINE]
    assert [(e.active, e.holds, e.code) for e in offline if e.channel == "F12345678"] == [
        (False, True, "status=1"),
        (True, True, "absent from the account"),
        (False, True, "status=1"),
    ]
    assert all(e.active is False for e in offline if e.channel == "427734000")
    # what the tracker makes of the poll in the middle: that camera is down, the other one is not
    tracker = DeviceTracker()
    at = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    polls = _polls(reporter.events_seen)
    tracker.observe(polls[0], at)
    beats = tracker.observe(polls[1], at + timedelta(seconds=60))
    assert {(b.channel, b.reading.status) for b in beats} == {("F12345678", "down"), ("427734000", "ok")}


def _polls(events: list[DeviceEvent]) -> list[list[DeviceEvent]]:
    """A session's events cut into polls (each poll's batch starts with the account's ALIVE)."""
    polls: list[list[DeviceEvent]] = []
    for event in events:
        if event.signal is Signal.ALIVE:
            polls.append([])
        polls[-1].append(event)
    return polls


async def test_an_ezviz_token_is_refreshed_before_it_expires() -> None:
    async with EzvizCloud(KEY, SECRET, {"427734000": 1}, token_ttl_s=600) as cloud:
        time = FakeTime(polls=4)
        cloud.clock = time.clock
        async with httpx.AsyncClient(timeout=5) as client:
            with pytest.raises(Stop):
                await ezviz.session(
                    cloud_device("ezviz", cloud.url, poll_s=250),
                    client,
                    RecordingReporter(),
                    clock=time.clock,
                    sleep=time.sleep,
                )

    # polls at 0, 250, 500, 750 s: the token of t=0 is due at 540 s, the next one at 1040 s
    assert cloud.token_requests == 2
    assert cloud.expired_refusals == 0


async def test_an_ezviz_token_the_cloud_calls_expired_is_replaced_and_the_poll_goes_on() -> None:
    async with EzvizCloud(KEY, SECRET, {"427734000": 0}) as cloud, httpx.AsyncClient(timeout=5) as client:
        time = FakeTime(polls=3, on_sleep=lambda polls: cloud.revoke_tokens() if polls == 1 else None)
        reporter = RecordingReporter()
        with pytest.raises(Stop):
            await ezviz.session(cloud_device("ezviz", cloud.url), client, reporter, clock=time.clock, sleep=time.sleep)

    assert cloud.expired_refusals == 1
    assert cloud.token_requests == 2
    assert sum(e.signal is Signal.ALIVE for e in reporter.events_seen) == 3
    assert reporter.errors == []


async def test_a_wrong_ezviz_secret_is_auth_failed_and_retried_slowly() -> None:
    async with EzvizCloud(KEY, SECRET, {"427734000": 1}) as cloud, httpx.AsyncClient(timeout=5) as client:
        device = cloud_device("ezviz", cloud.url, secret="not-the-secret")
        with pytest.raises(AuthFailed) as refused:
            await ezviz.session(device, client, RecordingReporter())

        delays: list[float] = []

        async def sleep(seconds: float) -> None:
            delays.append(seconds)
            if len(delays) == 4:
                raise Stop

        reporter = RecordingReporter()
        with pytest.raises(Stop):
            await run_forever(ezviz.session, device, client, reporter, backoff=Backoff(), sleep=sleep)

    assert "10030" in str(refused.value) and "not-the-secret" not in str(refused.value)
    assert reporter.states == ["auth_failed"] * 4
    assert cloud.refused == 1 + 4  # one request per attempt: no storm
    assert all(d >= 30 for d in delays) and delays[-1] >= 240  # auth backoff: 60 s doubling, half jitter


async def test_an_ezviz_cloud_that_is_gone_is_unreachable() -> None:
    async with EzvizCloud(KEY, SECRET) as cloud:
        url = cloud.url
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(Unreachable, match="EZVIZ token"):
            await ezviz.session(cloud_device("ezviz", url), client, RecordingReporter())


async def test_an_ezviz_reply_that_is_not_json_is_a_protocol_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ProtocolError, match="not JSON"):
            await ezviz.session(cloud_device("ezviz", "https://open.ezvizlife.com"), client, RecordingReporter())


async def test_the_ezviz_check_counts_cameras_and_those_online() -> None:
    async with EzvizCloud(KEY, SECRET, {"A": 1, "B": 0, "C": 1}) as cloud, httpx.AsyncClient(timeout=5) as client:
        assert await ezviz.check(cloud_device("ezviz", cloud.url), client) == "EZVIZ cloud: 3 cameras (2 online)"


# ---- Imou sessions --------------------------------------------------------------------------------------------


async def test_an_imou_session_reports_each_camera_state_the_cloud_knows() -> None:
    statuses = {"427734000": "1", "OFF0001": "0", "UPG0001": "3", "SLP0001": "4", "ODD0001": "2", "GONE001": "1"}
    async with ImouCloud(KEY, SECRET, statuses, errors={"GONE001": ("OP1009", "No right, cannot operate.")}) as cloud:
        async with httpx.AsyncClient(timeout=5) as client:
            time = FakeTime(polls=1)
            reporter = RecordingReporter()
            with pytest.raises(Stop):
                await imou.session(
                    cloud_device("imou", cloud.url), client, reporter, clock=time.clock, sleep=time.sleep
                )

    seen = reporter.events_seen
    assert reporter.states == ["connected"]
    assert state(seen, "427734000") == {Signal.OFFLINE: False, Signal.UPGRADING: False}
    assert state(seen, "OFF0001") == {Signal.OFFLINE: True, Signal.UPGRADING: False}
    assert state(seen, "UPG0001") == {Signal.OFFLINE: False, Signal.UPGRADING: True}
    assert state(seen, "SLP0001") == {Signal.OFFLINE: False, Signal.UPGRADING: False}
    assert state(seen, "ODD0001") == {} and state(seen, "GONE001") == {}
    assert reporter.malformed_reasons == [
        "Imou camera ODD0001: unknown onLine '2'",
        "Imou camera GONE001: Imou code OP1009 (No right, cannot operate.)",
    ]
    assert sum(e.signal is Signal.ALIVE for e in seen) == 1
    assert cloud.refused == 0  # every request carried a signature the cloud recomputed


async def test_an_imou_camera_mapped_but_not_on_the_account_or_removed_from_it_is_absent() -> None:
    statuses = {"IMOU00001": "1", "IMOU00002": "0"}  # the mapped 427734000 is not on this account at all

    def unbound(polls: int) -> None:
        del statuses["IMOU00001"]

    async with ImouCloud(KEY, SECRET, statuses) as cloud, httpx.AsyncClient(timeout=5) as client:
        time = FakeTime(polls=2, on_sleep=unbound)
        reporter = RecordingReporter()
        with pytest.raises(Stop):
            await imou.session(cloud_device("imou", cloud.url), client, reporter, clock=time.clock, sleep=time.sleep)

    first, second = _polls(reporter.events_seen)
    absent = DeviceEvent(Signal.OFFLINE, channel="427734000", active=True, holds=True, code="absent from the account")
    assert [e for e in first if e.code == ABSENT] == [absent]
    assert [e for e in second if e.code == ABSENT] == [
        absent,
        DeviceEvent(Signal.OFFLINE, channel="IMOU00001", active=True, holds=True, code="absent from the account"),
    ]
    assert state(second, "IMOU00002") == {Signal.OFFLINE: True, Signal.UPGRADING: False}  # listed: its own status


async def test_an_imou_session_pages_through_the_account_by_bind_id() -> None:
    statuses = {f"IMOU{i:05d}": "1" for i in range(120)}
    async with ImouCloud(KEY, SECRET, statuses) as cloud, httpx.AsyncClient(timeout=5) as client:
        time = FakeTime(polls=1)
        reporter = RecordingReporter()
        with pytest.raises(Stop):
            await imou.session(cloud_device("imou", cloud.url), client, reporter, clock=time.clock, sleep=time.sleep)

    listed = {e.channel for e in reporter.events_seen if e.signal is Signal.OFFLINE and e.code != ABSENT}
    assert listed == set(statuses)
    assert [e.channel for e in reporter.events_seen if e.code == ABSENT] == ["427734000"]  # mapped, not listed


async def test_an_imou_token_is_refreshed_after_expiry_and_when_the_cloud_says_so() -> None:
    async with ImouCloud(KEY, SECRET, {"427734000": "1"}, token_ttl_s=600) as cloud:
        time = FakeTime(polls=5, on_sleep=lambda polls: cloud.revoke_tokens() if polls == 4 else None)
        cloud.clock = time.clock
        async with httpx.AsyncClient(timeout=5) as client:
            reporter = RecordingReporter()
            with pytest.raises(Stop):
                await imou.session(
                    cloud_device("imou", cloud.url, poll_s=250), client, reporter, clock=time.clock, sleep=time.sleep
                )

    # t=0 token, due at 540 s → new at 750 s; revoked before the poll at 1000 s → TK1002, a third token
    assert cloud.token_requests == 3
    assert cloud.expired_refusals == 1
    assert sum(e.signal is Signal.ALIVE for e in reporter.events_seen) == 5


async def test_a_wrong_imou_secret_fails_the_signature_and_is_retried_slowly() -> None:
    async with ImouCloud(KEY, SECRET, {"427734000": "1"}) as cloud, httpx.AsyncClient(timeout=5) as client:
        device = cloud_device("imou", cloud.url, secret="not-the-secret")
        delays: list[float] = []

        async def sleep(seconds: float) -> None:
            delays.append(seconds)
            if len(delays) == 3:
                raise Stop

        reporter = RecordingReporter()
        with pytest.raises(Stop):
            await run_forever(imou.session, device, client, reporter, sleep=sleep)

    assert reporter.states == ["auth_failed"] * 3
    assert all(isinstance(e, AuthFailed) and "SN1001" in str(e) for e in reporter.errors)
    assert not any("not-the-secret" in str(e) for e in reporter.errors)
    assert cloud.refused == 3 and cloud.requests == 3
    assert all(d >= 30 for d in delays)


async def test_an_unknown_imou_app_id_is_auth_failed() -> None:
    async with ImouCloud("another-app", SECRET) as cloud, httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(AuthFailed, match="OP1008"):
            await imou.session(cloud_device("imou", cloud.url), client, RecordingReporter())


async def test_an_imou_cloud_that_is_gone_is_unreachable() -> None:
    async with ImouCloud(KEY, SECRET) as cloud:
        url = cloud.url
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(Unreachable, match="Imou token"):
            await imou.session(cloud_device("imou", url), client, RecordingReporter())


async def test_the_imou_check_counts_cameras_and_those_online() -> None:
    async with ImouCloud(KEY, SECRET, {"A": "1", "B": "4", "C": "0"}) as cloud, httpx.AsyncClient(timeout=5) as client:
        assert await imou.check(cloud_device("imou", cloud.url), client) == "Imou cloud: 3 cameras (1 online)"
