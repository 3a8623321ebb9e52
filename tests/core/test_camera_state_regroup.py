"""`camera_state.regroup`: per-unit seconds summed into former districts or the province (issue 18)."""

from __future__ import annotations

from services.core import uptime
from services.core.camera_state import UnitUptime, regroup


def seconds(**values: float) -> dict:
    return {**dict.fromkeys(uptime.STATES, 0.0), **values}


def test_it_sums_seconds_and_cameras_of_a_groups_units_and_keeps_the_unattributable_apart() -> None:
    per_unit = UnitUptime(
        seconds={
            "a": seconds(up=100, down=20),
            "b": seconds(up=50, degraded=10),
            "c": seconds(up=7),
            None: seconds(up=3),
        },
        cameras={"a": 2, "b": 1, "c": 1, None: 1},
    )
    grouped = regroup(per_unit, {"a": "398", "b": "398", "c": "399"})
    assert grouped.seconds["398"] == seconds(up=150, degraded=10, down=20)
    assert grouped.cameras == {"398": 3, "399": 1, None: 1}
    assert grouped.seconds[None] == seconds(up=3)
    # availability of the group is over its camera-time: (150 + 10) / 180, not the mean of 100/120 and 1
    assert uptime.figures(grouped.seconds["398"]).availability == 160 / 180


def test_a_unit_without_a_group_counts_with_the_unattributable() -> None:
    grouped = regroup(UnitUptime({"x": seconds(up=5)}, {"x": 1}), {"x": None})
    assert grouped.seconds == {None: seconds(up=5)} and grouped.cameras == {None: 1}
