"""Maintenance windows (SPEC §6): when they are in force, as intervals. Pure; the rows come from
`maintenance_windows` (migration 0006).

A window is one-off — [starts_at, ends_at) — or weekly: on the given ISO weekdays (1 = Monday) from `local_start`
to `local_end` in PULSE_TIMEZONE; a weekly window whose end is not after its start runs past midnight into the
next day (the weekday is the day it starts). Scope: one camera, one unit (in its set, and every unit that maps
into it or that it maps into), or everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any


@dataclass(frozen=True)
class Window:
    window_id: int
    camera_id: str | None = None
    unit: tuple[str, str] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    weekdays: tuple[int, ...] = ()
    local_start: time | None = None
    local_end: time | None = None
    note: str = ""
    in_force_from: datetime | None = None  # weekly: from when (None: all time, a window made before migration 0022)

    def intervals(self, start: datetime, end: datetime, tz: tzinfo) -> list[tuple[datetime, datetime]]:
        """The parts of [start, end) this window covers, in order."""
        if self.starts_at is not None and self.ends_at is not None:
            lo, hi = max(start, self.starts_at), min(end, self.ends_at)
            return [(lo, hi)] if hi > lo else []
        assert self.local_start is not None and self.local_end is not None
        if self.in_force_from is not None:
            start = max(start, self.in_force_from)
            if start >= end:
                return []
        out = []
        day: date = start.astimezone(tz).date() - timedelta(days=1)  # a window from yesterday may run past midnight
        last = end.astimezone(tz).date()
        while day <= last:
            if day.isoweekday() in self.weekdays:
                a = datetime.combine(day, self.local_start, tzinfo=tz)
                b_day = day if self.local_end > self.local_start else day + timedelta(days=1)
                b = datetime.combine(b_day, self.local_end, tzinfo=tz)
                lo, hi = max(start, a), min(end, b)
                if hi > lo:
                    out.append((lo, hi))
            day += timedelta(days=1)
        return out

    def active(self, now: datetime, tz: tzinfo) -> bool:
        return bool(self.intervals(now, now + timedelta(microseconds=1), tz))

    def covers(self, camera_id: str, units: Iterable[tuple[str, str]]) -> bool:
        """Whether the window applies to a camera kept in one unit (given with the units it maps to)."""
        if self.camera_id is not None:
            return self.camera_id == camera_id
        if self.unit is not None:
            return self.unit in set(units)
        return True


# --- storage -------------------------------------------------------------------------------------------------

MIN_REASON = 10  # characters: "bảo trì" alone says nothing


def add_window(
    conn: Any,
    *,
    camera_id: str | None = None,
    unit: tuple[str, str] | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    weekdays: Iterable[int] = (),
    local_start: time | None = None,
    local_end: time | None = None,
    note: str = "",
    created_by: str = "",
    now: datetime | None = None,
    in_force_from: datetime | None = None,
    reason: str = "",
) -> int:
    """Store a window; raises ValueError naming the field when it does not make sense. `now`: when a person sets it
    (the API's and the CLI's clock): a weekly window is then in force from `now` unless `in_force_from` says earlier,
    and a window that reaches back before `now` needs a `reason` (it changes figures already seen)."""
    days = sorted(set(weekdays))
    reason = reason.strip()
    if camera_id is not None and unit is not None:
        raise ValueError("scope: a window is for one camera, one unit, or everything — not both")
    if starts_at is not None or ends_at is not None:
        if starts_at is None or ends_at is None or ends_at <= starts_at:
            raise ValueError("to: a one-off window needs from and to, to after from")
        if days or local_start or local_end:
            raise ValueError("weekly: a window is one-off (from/to) or weekly (days/start/end), not both")
    else:
        if not days or any(d < 1 or d > 7 for d in days):
            raise ValueError("days: weekdays 1 (Monday) to 7 (Sunday)")
        if local_start is None or local_end is None or local_start == local_end:
            raise ValueError("end: a weekly window needs a start and a different end time")
    if in_force_from is not None and starts_at is not None:
        raise ValueError("in_force_from: only a weekly window has one (a one-off window starts at from)")
    if (
        camera_id is not None
        and conn.execute("SELECT 1 FROM cameras WHERE camera_id = %s", (camera_id,)).fetchone() is None
    ):
        raise ValueError(f"camera: no camera {camera_id}")
    if (
        unit is not None
        and conn.execute("SELECT 1 FROM units WHERE unit_set = %s AND code = %s", unit).fetchone() is None
    ):
        raise ValueError(f"unit: no unit {unit[1]} in set {unit[0]}")
    if now is not None:
        in_force_from = in_force_from or (now if starts_at is None else None)
        reaches_back = min(t for t in (starts_at, in_force_from) if t is not None) < now
        if reaches_back and len(reason) < MIN_REASON:
            raise ValueError(
                f"reason: a window that starts in the past changes figures already seen; say why"
                f" (at least {MIN_REASON} characters)"
            )
    row = conn.execute(
        """
        INSERT INTO maintenance_windows (camera_id, unit_set, unit_code, starts_at, ends_at, weekdays, local_start,
                                         local_end, note, created_by, in_force_from, reason)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING window_id
        """,
        (
            camera_id,
            *(unit or (None, None)),
            starts_at,
            ends_at,
            days or None,
            local_start,
            local_end,
            note,
            created_by,
            in_force_from,
            reason,
        ),
    ).fetchone()
    return int(row["window_id"])


def window_of(r: dict) -> Window:
    """The window a `maintenance_windows` row describes."""
    return Window(
        r["window_id"],
        r["camera_id"],
        (r["unit_set"], r["unit_code"]) if r["unit_code"] else None,
        r["starts_at"],
        r["ends_at"],
        tuple(r["weekdays"] or ()),
        r["local_start"],
        r["local_end"],
        r["note"],
        r["in_force_from"],
    )


def load_windows(conn: Any) -> list[Window]:
    return [window_of(r) for r in conn.execute("SELECT * FROM maintenance_windows ORDER BY window_id")]


def list_windows(conn: Any) -> list[dict]:
    """Every window, with the unit of its camera for a camera's window (`camera_unit_set`, `camera_unit_code`)."""
    return conn.execute(
        "SELECT w.*, c.unit_set AS camera_unit_set, c.unit_code AS camera_unit_code"
        " FROM maintenance_windows w LEFT JOIN cameras c ON c.camera_id = w.camera_id ORDER BY w.window_id"
    ).fetchall()


def units_shaped(row: dict, mapping: dict[tuple[str, str], tuple[str, str]]) -> list[tuple[str, str]] | None:
    """The units whose cameras a listed window applies to, as the figures apply it (`Window.covers` with a camera's
    unit and the unit it maps to): its camera's unit; or its unit and every unit that maps into it. None for a
    window over everything."""
    if row["camera_id"] is not None:
        return [(row["camera_unit_set"], row["camera_unit_code"])]
    if row["unit_code"] is not None:
        unit = (row["unit_set"], row["unit_code"])
        return [unit, *(source for source, target in mapping.items() if target == unit)]
    return None


def remove_window(conn: Any, window_id: int) -> bool:
    return conn.execute("DELETE FROM maintenance_windows WHERE window_id = %s", (window_id,)).rowcount > 0
