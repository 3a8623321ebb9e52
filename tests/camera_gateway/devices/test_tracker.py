"""The pure rules that turn a device's events into heartbeats (camera_gateway/devices/tracker.py)."""

from datetime import UTC, datetime, timedelta

from camera_gateway.devices.events import DeviceEvent, Signal
from camera_gateway.devices.tracker import DeviceTracker, Reading

T = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
ALIVE = DeviceEvent(Signal.ALIVE)


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def test_a_device_heartbeat_every_ten_seconds_gives_one_heartbeat_per_camera_interval() -> None:
    tracker = DeviceTracker()
    beats = [b for s in range(0, 181, 10) for b in tracker.observe([ALIVE], at(s), {"1": 60, "2": 60})]
    assert [(b.channel, b.ts) for b in beats] == [(ch, at(s)) for s in (0, 60, 120, 180) for ch in ("1", "2")]
    assert {b.reading for b in beats} == {Reading("ok")}


def test_a_state_change_gives_a_heartbeat_at_once_for_that_channel_only() -> None:
    tracker = DeviceTracker()
    tracker.observe([ALIVE], at(0), {"1": 60, "2": 60})
    beats = tracker.observe([DeviceEvent(Signal.VIDEO_LOSS, "2")], at(7), {"1": 60, "2": 60})
    assert beats == [("2", at(7), Reading("down"))]


def test_an_alarm_that_is_not_repeated_clears_itself_at_the_next_proof_of_life() -> None:
    tracker = DeviceTracker(hold_s=30)
    tracker.observe([DeviceEvent(Signal.TAMPER, "1")], at(0), {"1": 60})
    assert tracker.observe([DeviceEvent(Signal.TAMPER, "1")], at(20), {"1": 60}) == []  # repeated: still on
    assert tracker.observe([ALIVE], at(45), {"1": 60}) == []  # 25 s after the repeat: held
    assert tracker.observe([ALIVE], at(51), {"1": 60}) == [("1", at(51), Reading("ok"))]


def test_an_alarm_that_holds_stays_until_the_device_says_it_ended() -> None:
    tracker = DeviceTracker(hold_s=30)
    start = DeviceEvent(Signal.VIDEO_LOSS, "1", active=True, holds=True)
    stop = DeviceEvent(Signal.VIDEO_LOSS, "1", active=False, holds=True)
    assert tracker.observe([start], at(0), {"1": 60}) == [("1", at(0), Reading("down"))]
    assert tracker.observe([ALIVE], at(300), {"1": 60}) == [("1", at(300), Reading("down"))]  # interval, not clear
    assert tracker.observe([stop], at(310), {"1": 60}) == [("1", at(310), Reading("ok"))]


def test_picture_alarms_degrade_and_storage_alarms_of_the_whole_device_reach_every_channel() -> None:
    tracker = DeviceTracker()
    beats = tracker.observe(
        [DeviceEvent(Signal.TAMPER, "1"), DeviceEvent(Signal.BLUR, "2"), DeviceEvent(Signal.STORAGE_FAILURE)],
        at(0),
        {"1": 60, "2": 60},
    )
    assert beats == [
        ("1", at(0), Reading("degraded", (("obstructed", True),), (("storage_ok", False),))),
        ("2", at(0), Reading("degraded", (), (("storage_ok", False),))),
    ]


def test_video_loss_wins_over_a_picture_alarm_and_carries_no_quality_flag() -> None:
    tracker = DeviceTracker()
    beats = tracker.observe([DeviceEvent(Signal.TAMPER, "3"), DeviceEvent(Signal.OFFLINE, "3", holds=True)], at(0))
    assert beats == [("3", at(0), Reading("down"))]


def test_a_silent_device_gives_no_heartbeat_and_none_goes_back_in_time() -> None:
    tracker = DeviceTracker()
    assert tracker.observe([ALIVE], at(100), {"1": 60}) == [("1", at(100), Reading("ok"))]
    # an event stamped at the same instant (or earlier, a clock step back) cannot make a second heartbeat there
    assert tracker.observe([DeviceEvent(Signal.VIDEO_LOSS, "1")], at(100), {"1": 60}) == []
    assert tracker.observe([ALIVE], at(101), {"1": 60}) == [("1", at(101), Reading("down"))]


def test_channels_appear_when_the_device_first_mentions_them() -> None:
    tracker = DeviceTracker()
    tracker.observe([ALIVE], at(0))
    beats = tracker.observe([DeviceEvent(Signal.OTHER, "34", code="VMD")], at(5))
    assert beats == [("34", at(5), Reading("ok"))]
