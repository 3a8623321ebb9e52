"""`/api/v1/uptime`: seconds per state, availability, healthy and coverage per unit, camera, former district or
province (SPEC §5, §10; issue 18)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from services.api.deps import AppSettings, Conn, Live, Now, ReadConn, Reader, conditional, require_unit
from services.core import camera_state, units, uptime
from services.core.auth import Principal
from services.core.db import one_snapshot
from services.core.heartbeats import parse_rfc3339
from services.core.uptime import State

router = APIRouter(prefix="/api/v1", tags=["uptime"])
MAX_WINDOW = timedelta(days=400)
NOT_ATTRIBUTABLE = "Chưa xác định đơn vị (ghi theo đơn vị khác bộ, hoặc đơn vị cũ bị chia tách)"

UnitSetParam = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="2024 or 2025")]


def parse_window(start: str, end: str) -> tuple[datetime, datetime]:
    try:
        a = parse_rfc3339(start)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"from: {exc}") from None
    try:
        b = parse_rfc3339(end)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"to: {exc}") from None
    if b <= a:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "to: must be after from")
    if b - a > MAX_WINDOW:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "to: the window may span at most 400 days")
    return a, b


def seconds_item(seconds: dict[State, float]) -> dict:
    f = uptime.figures(seconds)
    return {
        "up_s": seconds["up"],
        "degraded_s": seconds["degraded"],
        "down_s": seconds["down"],
        "unknown_s": seconds["unknown"],
        "maintenance_s": seconds["maintenance"],
        "availability": f.availability,
        "healthy": f.healthy,
        "coverage": f.coverage,
    }


def unit_names(conn: Conn, view_set: str) -> dict[str, str]:
    names = {r["code"]: r["name"] for r in units.list_units(conn, view_set)}
    if not names:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no unit set {view_set}")
    return names


def visible_camera_ids(conn: Conn, principal: Principal) -> list[str] | None:
    """The cameras a commune operator may see; None for roles that see every camera (no filter at all)."""
    if principal.units is None:
        return None
    rows = conn.execute("SELECT camera_id, unit_set, unit_code FROM cameras").fetchall()
    return [r["camera_id"] for r in rows if principal.can_read_unit(r["unit_set"], r["unit_code"])]


def readable_groups(
    conn: Conn, principal: Principal, view: str, level: str
) -> tuple[dict[str, str | None], dict[str, units.GroupOf], dict[str, list[str]]]:
    """Each unit's group code at `level`, the groups the principal may read whole (every unit of it), and the
    units of each of those groups."""
    of = units.groups_of(conn, view, level)
    members: dict[str, list[str]] = {}
    found: dict[str, units.GroupOf] = {}
    for code, group in of.items():
        if group is not None:
            members.setdefault(group.code, []).append(code)
            found[group.code] = group
    readable = {g: found[g] for g, codes in members.items() if all(principal.can_read_unit(view, c) for c in codes)}
    return (
        {code: group.code if group else None for code, group in of.items()},
        readable,
        {g: members[g] for g in readable},
    )


def group_header(code: str | None, name: str | None, level: str, units: int) -> dict:
    """The fields that name a group in an answer grouped by district or province (no unit)."""
    return {
        "group_code": code,
        "group_name": name,
        "group_level": level,
        "unit_code": None,
        "unit_name": None,
        "units": units,
    }


def group_items(conn: Conn, principal: Principal, view: str, level: str, result: camera_state.UnitUptime) -> list[dict]:
    group_of, groups, members = readable_groups(conn, principal, view, level)
    grouped = camera_state.regroup(result, group_of)
    items = [
        {
            **group_header(code, groups[code].name, level, len(members[code])),
            "cameras": grouped.cameras.get(code, 0),
            **seconds_item(grouped.seconds.get(code) or dict.fromkeys(uptime.STATES, 0.0)),
        }
        for code in sorted(groups)
    ]
    if None in grouped.seconds:
        items.append(
            {
                **group_header(None, NOT_ATTRIBUTABLE, level, 0),
                "cameras": grouped.cameras.get(None, 0),
                **seconds_item(grouped.seconds[None]),
            }
        )
    return items


@router.get("/uptime", summary="Uptime per unit or camera over a window")
def get_uptime(
    principal: Reader,
    conn: ReadConn,
    settings: AppSettings,
    from_: Annotated[str, Query(alias="from", description="RFC 3339 with offset")],
    to: Annotated[str, Query(description="RFC 3339 with offset")],
    group_by: Literal["unit", "camera", "district", "province"] = "unit",
    unit_set: UnitSetParam = None,
) -> dict:
    """`group_by=district|province`: the same sums over the cameras of each former district (a set with districts:
    the unit's district; the 2025 set: the unit's former district, see `units.groups_of`) or of the province. A
    group is listed only to a principal who may read every one of its units (a commune operator gets no group
    that also holds units of others); cameras with no unit in the view, or whose unit has no group at that level,
    are one item with `group_code` null."""
    start, end = parse_window(from_, to)
    view = unit_set or settings.unit_set
    names = unit_names(conn, view)
    ids = visible_camera_ids(conn, principal)
    if group_by == "camera":
        cams = camera_state.snapshots(conn, view_set=view, camera_ids=ids)
        per_camera = camera_state.window_seconds(conn, cams, start, end, tz=settings.tz)
        items = [
            {
                "camera_id": c.camera_id,
                "camera_name": c.name,
                "unit_code": c.view_code,
                "unit_name": names.get(c.view_code or "", NOT_ATTRIBUTABLE),
                **seconds_item(per_camera[c.camera_id]),
            }
            for c in cams
            if c.camera_id in per_camera
        ]
    elif group_by in ("district", "province"):
        result = camera_state.unit_uptime(conn, start, end, view_set=view, camera_ids=ids, tz=settings.tz)
        items = group_items(conn, principal, view, group_by, result)
    else:
        result = camera_state.unit_uptime(conn, start, end, view_set=view, camera_ids=ids, tz=settings.tz)
        totals, counts = result.seconds, result.cameras
        codes = [code for code in names if principal.can_read_unit(view, code)]
        items = [
            {
                "unit_code": code,
                "unit_name": names[code],
                "cameras": counts.get(code, 0),
                **seconds_item(totals[code] if code in totals else dict.fromkeys(uptime.STATES, 0.0)),
            }
            for code in codes
        ]
        if None in totals:
            items.append(
                {
                    "unit_code": None,
                    "unit_name": NOT_ATTRIBUTABLE,
                    "cameras": counts.get(None, 0),
                    **seconds_item(totals[None]),
                }
            )
    return {"from": start.isoformat(), "to": end.isoformat(), "unit_set": view, "group_by": group_by, "items": items}


@router.get("/uptime/series", summary="Availability per hour (24h) or per local day (7d, 30d), for a unit or all")
def uptime_series(
    principal: Reader,
    request: Request,
    conn: ReadConn,
    live: Live,
    settings: AppSettings,
    now: Now,
    window: Literal["24h", "7d", "30d"] = "24h",
    unit: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="all units when omitted")] = None,
    unit_set: UnitSetParam = None,
) -> Response:
    """Each bucket holds the same figures as `/uptime` over it; the last bucket ends now. Without `unit`, the
    cameras you may see, together. The cameras (their units, open tails, service periods) come from the live model
    (services/api/live.py), brought up to the same snapshot as the stored history the buckets read; the stored
    part of every bucket from the day and hour rollups, read once, by the keys of those cameras (a camera's key
    decides both its unit and whether you may read it)."""
    view = unit_set or settings.unit_set
    names = unit_names(conn, view)
    if unit is not None:
        require_unit(principal, view, unit)
        if unit not in names:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unit: no unit {unit} in set {view}")
    items = []
    with one_snapshot(conn):
        model = live.view_in(conn, view)
        f = model.fleet
        picked = model.cameras_of([unit] if unit is not None else None)
        if principal.units is not None:  # the cameras of units it may read (by their own unit, as /uptime does)
            readable = np.array([principal.can_read_unit(s, c) for s, c, _ in f.keys], dtype=bool)
            picked = picked[readable[f.key[picked]]] if len(f.keys) else picked[:0]
        whole = unit is None and principal.units is None
        keys = None if whole else {f.keys[k] for k in np.unique(f.key[picked]).tolist()}
        buckets = camera_state.series_buckets(now, window, settings.tz)
        results = camera_state.unit_uptime_each(
            conn, buckets, view_set=view, tz=settings.tz, cameras=f if whole else f.subset(picked), keys=keys
        )
        for (start, end), result in zip(buckets, results, strict=True):
            seconds = uptime.sum_seconds(result.seconds.values())
            items.append({"from": start.isoformat(), "to": end.isoformat(), **seconds_item(seconds)})
    body = {"window": window, "unit_set": view, "unit_code": unit, "as_of": now.isoformat(), "items": items}
    return conditional(request, body)
