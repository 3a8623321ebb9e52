"""The incident rules of SPEC §6 (pure), with a hand-moved clock."""

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from services.alerts import messages
from services.alerts.messages import IncidentInfo, compose
from services.alerts.rules import CameraNow, GatewayNow, NewIncident, Open, Rules, decide, is_flapping, is_stable
from services.core.maintenance import Window

T = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
U = ("2024", "15865")
V = ("2024", "15871")
RULES = Rules(outage_ratio=0.5, outage_min_cameras=3, outage_window_s=120)


def cam(cid: str, state: str = "up", *, unit=U, down_s_ago: float | None = None, maint: bool = False) -> CameraNow:
    since = T - timedelta(seconds=down_s_ago) if down_s_ago is not None else None
    return CameraNow(cid, unit, state, since if state == "down" else None, maint)


def fleet(n: int, unit=U) -> list[CameraNow]:
    return [cam(f"{unit[1]}-{i}", unit=unit) for i in range(n)]


def test_one_camera_down_opens_one_camera_incident() -> None:
    cameras = [*fleet(9), cam("c-down", "down", down_s_ago=5)]
    d = decide(T, cameras, [], [], pipeline_stalled=False, rules=RULES)
    assert d.open == [NewIncident("camera_down", unit=U, camera_ids=("c-down",))]


def test_an_open_incident_is_not_opened_again_and_resolves_on_recovery() -> None:
    open_ = [Open(7, "camera_down", ("c1",), U)]
    assert not decide(T, [cam("c1", "down", down_s_ago=60)], [], open_, pipeline_stalled=False, rules=RULES)
    d = decide(T, [cam("c1", "up")], [], open_, pipeline_stalled=False, rules=RULES)
    assert d.resolve == {7: "recovered"}


def test_half_a_commune_down_within_the_window_is_one_outage_absorbing_unnotified_camera_incidents() -> None:
    cameras = [cam(f"c{i}", "down", down_s_ago=10 * i) for i in range(5)] + fleet(5)
    open_ = [Open(1, "camera_down", ("c0",), U, notified=False), Open(2, "camera_down", ("c1",), U, notified=True)]
    d = decide(T, cameras, [], open_, pipeline_stalled=False, rules=RULES)
    assert d.open == [NewIncident("commune_outage", unit=U, camera_ids=("c0", "c1", "c2", "c3", "c4"))]
    assert set(d.merge) == {1}  # the one already notified stays (its resolved message must follow)


def test_below_the_ratio_or_the_minimum_or_spread_over_time_is_not_an_outage() -> None:
    below_ratio = [cam(f"c{i}", "down", down_s_ago=5) for i in range(4)] + fleet(6)
    assert {n.kind for n in decide(T, below_ratio, [], [], pipeline_stalled=False, rules=RULES).open} == {"camera_down"}
    below_min = [cam("c0", "down", down_s_ago=5), cam("c1", "down", down_s_ago=5), *fleet(1)]
    assert {n.kind for n in decide(T, below_min, [], [], pipeline_stalled=False, rules=RULES).open} == {"camera_down"}
    # Exactly at the edges: 3 of 6 (ratio 0.5), the oldest 120 s ago: an outage.
    edge = [cam(f"c{i}", "down", down_s_ago=s) for i, s in enumerate((0, 60, 120))] + fleet(3)
    assert [n.kind for n in decide(T, edge, [], [], pipeline_stalled=False, rules=RULES).open] == ["commune_outage"]
    spread = [cam(f"c{i}", "down", down_s_ago=s) for i, s in enumerate((0, 60, 121))] + fleet(3)
    kinds = [n.kind for n in decide(T, spread, [], [], pipeline_stalled=False, rules=RULES).open]
    assert kinds.count("camera_down") == 3 and "commune_outage" not in kinds


def test_an_open_outage_takes_new_failures_and_resolves_when_fewer_than_the_minimum_remain() -> None:
    outage = Open(5, "commune_outage", ("c0", "c1", "c2"), U, notified=True)
    cameras = [cam("c0", "down", down_s_ago=300), cam("c1", "down", down_s_ago=300), cam("c2", "up")]
    cameras += [cam("c3", "down", down_s_ago=5), *fleet(2)]
    d = decide(T, cameras, [], [outage], pipeline_stalled=False, rules=RULES)
    assert d.extend == {5: ("c0", "c1", "c2", "c3")} and not d.open
    recovering = [cam("c0", "down", down_s_ago=300), cam("c1", "up"), cam("c2", "up"), *fleet(3)]
    d = decide(T, recovering, [], [outage], pipeline_stalled=False, rules=RULES)
    assert d.resolve == {5: "recovered"}
    assert d.open == [NewIncident("camera_down", unit=U, camera_ids=("c0",))]


def test_a_silent_gateway_is_one_incident_and_its_unknown_cameras_none() -> None:
    cameras = [cam(f"c{i}", "unknown") for i in range(10)]
    gw = GatewayNow(3, silent=True, cameras=10, units=(U,))
    d = decide(T, cameras, [gw], [], pipeline_stalled=False, rules=RULES)
    assert d.open == [NewIncident("gateway_down", unit=U, gateway_id=3)]
    # Unknown does not close a camera incident either: we do not know.
    assert not decide(T, cameras, [gw], [Open(9, "camera_down", ("c1",), U), Open(10, "gateway_down", gateway_id=3)],
                      pipeline_stalled=False, rules=RULES)  # fmt: skip
    back = GatewayNow(3, silent=False, cameras=10, units=(U,))
    assert decide(T, fleet(10), [back], [Open(10, "gateway_down", gateway_id=3)], pipeline_stalled=False,
                  rules=RULES).resolve == {10: "recovered"}  # fmt: skip


def test_a_stalled_pipeline_opens_only_its_own_incident_and_touches_nothing_else() -> None:
    cameras = [cam(f"c{i}", "down", down_s_ago=5) for i in range(10)]
    gw = GatewayNow(3, silent=True, cameras=10, units=(U,))
    open_ = [Open(1, "camera_down", ("c0",), U)]
    d = decide(T, cameras, [gw], open_, pipeline_stalled=True, rules=RULES)
    assert d.open == [NewIncident("pipeline_stalled")] and not d.resolve
    d = decide(T, cameras, [gw], [*open_, Open(2, "pipeline_stalled")], pipeline_stalled=True, rules=RULES)
    assert not d
    assert decide(T, fleet(3), [], [Open(2, "pipeline_stalled")], pipeline_stalled=False, rules=RULES).resolve == {
        2: "recovered"
    }


def test_maintenance_opens_nothing_and_closes_what_was_open() -> None:
    cameras = [cam("c1", "down", down_s_ago=5, maint=True), cam("c2", "degraded", maint=True)]
    assert not decide(T, cameras, [], [], pipeline_stalled=False, rules=RULES).open
    d = decide(T, cameras, [], [Open(4, "camera_down", ("c1",), U)], pipeline_stalled=False, rules=RULES)
    assert d.resolve == {4: "maintenance"}
    in_maint = [cam(f"c{i}", "down", down_s_ago=5, maint=True) for i in range(6)]
    assert not decide(T, in_maint, [], [], pipeline_stalled=False, rules=RULES).open


def test_degraded_opens_its_own_incident_and_down_replaces_it() -> None:
    d = decide(T, [cam("c1", "degraded"), *fleet(4)], [], [], pipeline_stalled=False, rules=RULES)
    assert d.open == [NewIncident("camera_degraded", unit=U, camera_ids=("c1",))]
    d = decide(T, [cam("c1", "down", down_s_ago=1), *fleet(4)], [], [Open(3, "camera_degraded", ("c1",), U)],
               pipeline_stalled=False, rules=RULES)  # fmt: skip
    assert d.resolve == {3: "went_down"} and d.open == [NewIncident("camera_down", unit=U, camera_ids=("c1",))]


def test_flapping_is_more_than_four_changes_in_thirty_minutes_and_stable_after_fifteen_quiet() -> None:
    changes = [T - timedelta(minutes=m) for m in (1, 5, 10, 20, 29)]
    assert is_flapping(changes, T)
    assert not is_flapping(changes[:4], T)
    assert not is_flapping([*changes[:4], T - timedelta(minutes=31)], T)
    assert not is_stable(changes, T) and is_stable(changes, T + timedelta(minutes=16))


def test_weekly_maintenance_windows_in_local_time_including_past_midnight() -> None:
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    # Thursday 26 November 2026, 22:00 to 06:00 local, Thursdays only.
    w = Window(1, weekdays=(4,), local_start=time(22), local_end=time(6))
    assert w.active(datetime(2026, 11, 26, 23, 0, tzinfo=tz), tz)
    assert w.active(datetime(2026, 11, 27, 5, 59, tzinfo=tz), tz)  # Friday morning, still Thursday's window
    assert not w.active(datetime(2026, 11, 27, 6, 0, tzinfo=tz), tz)
    assert not w.active(datetime(2026, 11, 27, 23, 0, tzinfo=tz), tz)  # a Friday evening
    day = datetime(2026, 11, 26, 0, 0, tzinfo=tz)
    assert w.intervals(day, day + timedelta(days=2), tz) == [
        (datetime(2026, 11, 26, 22, 0, tzinfo=tz), datetime(2026, 11, 27, 6, 0, tzinfo=tz))
    ]
    one_off = Window(2, unit=U, starts_at=T, ends_at=T + timedelta(hours=1))
    assert one_off.active(T, tz) and not one_off.active(T + timedelta(hours=1), tz)
    assert one_off.covers("any", [U]) and not one_off.covers("any", [V])


def test_messages_are_vietnamese_with_the_commune_and_camera_names() -> None:
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    info = IncidentInfo(1, "commune_outage", "Bút Sơn", (("c1", "Ngã tư Bút Sơn"), ("c2", "")), None, T, None)
    subject, text = compose("opened", "Bút Sơn", [info], lang="vi", tz=tz)
    assert subject == "🔴 Bút Sơn: Mất kết nối diện rộng"
    assert "Ngã tư Bút Sơn (c1), c2" in text and "từ 10:00 26/11/2026" in text
    subject, _ = compose("resolved", "Bút Sơn", [info], lang="en", tz=tz)
    assert subject == "✅ Resolved: Bút Sơn: Commune-wide outage"


def test_with_unit_sizes_the_up_cameras_may_be_left_out() -> None:
    """At province scale the engine lists only cameras that may not be up; the ratio uses the unit's size."""
    down = [cam(f"c{i}", "down", down_s_ago=5) for i in range(4)]
    d = decide(T, down, [], [], pipeline_stalled=False, rules=RULES, unit_sizes={U: 10})
    assert {n.kind for n in d.open} == {"camera_down"}  # 4 of 10: under half
    d = decide(T, down, [], [], pipeline_stalled=False, rules=RULES, unit_sizes={U: 8})
    assert [n.kind for n in d.open] == ["commune_outage"]  # 4 of 8


def test_an_incident_has_the_same_name_on_the_dashboard_and_in_the_messages() -> None:
    """Operators read both: the name in a Telegram message must be the one they find on the incidents page."""
    static = Path(__file__).parents[2] / "dashboards/web/static"
    for lang in ("vi", "en"):
        block = (static / f"strings-{lang}.js").read_text(encoding="utf-8")
        shown = dict(re.findall(r'^\s+kind_(\w+): "([^"]+)"', block, flags=re.MULTILINE))
        assert shown == messages._KIND[lang], lang
