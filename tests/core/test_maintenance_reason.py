"""A maintenance window set after the time it covers began changes figures already seen (issue 31): it needs a
reason. A weekly window reaches from when it was set (not over every past week), unless given earlier with a
reason; windows made before that rule keep their reach."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from services.core import maintenance
from services.core.maintenance import Window

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hanoi


def test_a_weekly_window_reaches_from_when_it_is_in_force() -> None:
    nightly = Window(1, weekdays=(1, 2, 3, 4, 5, 6, 7), local_start=time(22), local_end=time(2))
    week = (NOW - timedelta(days=7), NOW)
    assert len(nightly.intervals(*week, TZ)) == 7  # made before the rule: every night of the week
    from_now = Window(2, weekdays=(1, 2, 3, 4, 5, 6, 7), local_start=time(22), local_end=time(2), in_force_from=NOW)
    assert from_now.intervals(*week, TZ) == []
    assert from_now.intervals(NOW, NOW + timedelta(days=1), TZ) == [
        (datetime(2026, 12, 7, 22, tzinfo=TZ), datetime(2026, 12, 8, 2, tzinfo=TZ))
    ]
    tonight_from_23 = Window(
        3, weekdays=(1,), local_start=time(22), local_end=time(2), in_force_from=datetime(2026, 12, 7, 23, tzinfo=TZ)
    )
    assert tonight_from_23.intervals(NOW, NOW + timedelta(days=1), TZ) == [
        (datetime(2026, 12, 7, 23, tzinfo=TZ), datetime(2026, 12, 8, 2, tzinfo=TZ))
    ]


@pytest.mark.db
def test_a_window_that_reaches_back_needs_a_reason(conn: psycopg.Connection) -> None:
    last_week = {"starts_at": NOW - timedelta(days=7), "ends_at": NOW - timedelta(days=6)}
    with pytest.raises(ValueError, match="reason: a window that starts in the past"):
        maintenance.add_window(conn, unit=("2024", "15865"), now=NOW, **last_week)
    with pytest.raises(ValueError, match="at least 10 characters"):
        maintenance.add_window(conn, unit=("2024", "15865"), now=NOW, reason="  bảo trì  ", **last_week)
    kept = maintenance.add_window(conn, unit=("2024", "15865"), now=NOW, reason="mất điện lưới cả xã", **last_week)
    tomorrow = {"starts_at": NOW + timedelta(days=1), "ends_at": NOW + timedelta(days=2)}
    maintenance.add_window(conn, unit=("2024", "15865"), now=NOW, **tomorrow)  # ahead: no reason needed

    weekly = {"weekdays": [1], "local_start": time(22), "local_end": time(2)}
    set_now = maintenance.add_window(conn, now=NOW, **weekly)
    with pytest.raises(ValueError, match="reason"):
        maintenance.add_window(conn, now=NOW, in_force_from=NOW - timedelta(days=30), **weekly)
    with pytest.raises(ValueError, match="in_force_from: only a weekly window"):
        maintenance.add_window(conn, now=NOW, in_force_from=NOW, reason="x" * 20, **tomorrow)
    rows = {r["window_id"]: r for r in conn.execute("SELECT * FROM maintenance_windows")}
    assert rows[kept]["reason"] == "mất điện lưới cả xã" and rows[kept]["in_force_from"] is None
    assert rows[set_now]["in_force_from"] == NOW and rows[set_now]["reason"] == ""
    loaded = {w.window_id: w for w in maintenance.load_windows(conn)}
    assert loaded[set_now].intervals(NOW - timedelta(days=7), NOW, TZ) == []  # last Monday night untouched
