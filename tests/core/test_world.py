"""The simulated district (pure): deterministic, and every kind of trouble happens in every cycle."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.demo.world import World, WorldConfig

UNITS = [(f"{15865 + i}", f"Xã {i}") for i in range(37)]
CONFIG = WorldConfig(cameras=37 * 4, interval_s=5, cycle_s=360, citizens=1000)
T0 = datetime.fromtimestamp(360 * 4_800_000, UTC)  # a cycle boundary


def test_the_world_is_deterministic() -> None:
    a, b = World(CONFIG, UNITS), World(CONFIG, UNITS)
    for s in range(0, 360, 7):
        t = T0 + timedelta(seconds=s)
        assert [a.heartbeat(c, t) for c in a.cameras] == [b.heartbeat(c, t) for c in b.cameras]
        assert a.session(t, 0, 0) == b.session(t, 0, 0)


def test_every_cycle_has_each_kind_of_trouble() -> None:
    w = World(CONFIG, UNITS)
    moments = [T0 + timedelta(seconds=s) for s in range(360)]
    cut = {w.power_cut_unit(t) for t in moments} - {None}
    assert len(cut) == 1
    (unit,) = cut
    silent_during_cut = [c for c in w.by_unit[unit] if w.heartbeat(c, T0 + timedelta(seconds=90)) is None]
    assert len(silent_during_cut) == len(w.by_unit[unit])
    assert len({w.uplink_down_unit(t) for t in moments} - {None}) == 1
    assert set().union(*(w.dead(t) for t in moments))
    flapping = [w.heartbeat(next(c for c in w.cameras if c.camera_id == w.flapping), t) for t in moments[180:]]
    assert {"status": "down"} in flapping and any(h and h["status"] == "ok" for h in flapping)
    assert w.heartbeat(next(c for c in w.cameras if c.camera_id == w.blurred), T0)["status"] == "degraded"


def test_citizens_use_the_app_more_in_the_morning_and_evening_and_adoption_differs() -> None:
    w = World(CONFIG, UNITS)
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    day = datetime(2026, 11, 26, tzinfo=tz)
    assert w.rhythm(day.replace(hour=20), tz) > 3 * w.rhythm(day.replace(hour=3), tz)
    assert w.rhythm(day.replace(hour=7, minute=30), tz) > 3 * w.rhythm(day.replace(hour=13), tz)
    assert max(w.adoption.values()) - min(w.adoption.values()) > 0.2
    assert w.citizens_on(30) > w.citizens_on(0)  # new citizens every day
