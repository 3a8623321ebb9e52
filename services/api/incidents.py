"""`/api/v1/incidents` (list, acknowledge) and `/api/v1/maintenance` (windows), SPEC §6 and §10."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from services.api.deps import FREE_TEXT, ActingConn, AdminOnly, AppSettings, Conn, Now, ReadConn, Reader, conditional
from services.api.uptime import UnitSetParam
from services.core import maintenance, units
from services.core.auth import Principal

router = APIRouter(prefix="/api/v1", tags=["incidents"])
CodeParam = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="a unit code")]


def _visible(principal: Principal, row: dict) -> bool:
    if principal.units is None:
        return True
    return row["unit_code"] is not None and principal.can_read_unit(row["unit_set"], row["unit_code"])


def _item(row: dict) -> dict:
    return {
        "id": row["incident_id"],
        "kind": row["kind"],
        "status": row["status"],
        "unit_set": row["unit_set"],
        "unit_code": row["unit_code"],
        "unit_name": row["unit_name"],
        "camera_ids": row["camera_ids"],
        "gateway_id": row["gateway_id"],
        "opened_at": row["opened_at"].isoformat(),
        "resolved_at": row["resolved_at"].isoformat() if row["resolved_at"] else None,
        "resolution": row["resolution"],
        "acknowledged_by": row["acknowledged_by"],
        "acknowledged_at": row["acknowledged_at"].isoformat() if row["acknowledged_at"] else None,
        "ack_note": row["ack_note"],
        "notified": row["notified_at"] is not None,
    }


# An incident with its unit's name.
_INCIDENTS = (
    "SELECT i.*, u.name AS unit_name FROM incidents i"
    " LEFT JOIN units u ON u.unit_set = i.unit_set AND u.code = i.unit_code"
)


@router.get("/incidents", summary="Incidents, newest first (open or resolved; merged ones are left out)")
def list_incidents(
    principal: Reader,
    request: Request,
    conn: ReadConn,
    settings: AppSettings,
    status_: Annotated[Literal["open", "resolved"] | None, Query(alias="status")] = None,
    unit: CodeParam = None,
    unit_set: UnitSetParam = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    view = unit_set or settings.unit_set
    # A scoped operator's own incidents, picked before the limit (picked after it, the newest of the province's
    # left a xã's overview empty).
    visible = None if principal.units is None else sorted(f"{s}/{c}" for s, c in principal.units)
    rows = conn.execute(
        f"""
        {_INCIDENTS}
        LEFT JOIN unit_mapping m ON m.from_set = i.unit_set AND m.from_code = i.unit_code AND m.to_set = %(view)s
        WHERE (%(status)s::text IS NULL OR i.status = %(status)s) AND i.merged_into IS NULL
          AND (%(unit)s::text IS NULL OR (i.unit_set = %(view)s AND i.unit_code = %(unit)s) OR m.to_code = %(unit)s)
          AND (%(visible)s::text[] IS NULL OR i.unit_set || '/' || i.unit_code = ANY(%(visible)s))
        ORDER BY i.opened_at DESC, i.incident_id DESC LIMIT %(limit)s
        """,
        {"status": status_, "unit": unit, "view": view, "limit": limit, "visible": visible},
    ).fetchall()
    return conditional(request, {"items": [_item(r) for r in rows]})


class AckIn(BaseModel):
    note: str = Field(default="", max_length=500, pattern=FREE_TEXT)


@router.post("/incidents/{incident_id}/ack", summary="Acknowledge an incident (admin, or commune in its units)")
def ack(
    principal: Reader, conn: ActingConn, now: Now, incident_id: Annotated[int, Path(ge=1)], body: AckIn | None = None
) -> dict:
    row = conn.execute("SELECT * FROM incidents WHERE incident_id = %s", (incident_id,)).fetchone()
    if row is None or not _visible(principal, row):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id}")
    unit_ok = row["unit_code"] is not None and principal.can_act_on_unit(row["unit_set"], row["unit_code"])
    if not (principal.role == "admin" or unit_ok):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not acknowledge this incident")
    conn.execute(
        "UPDATE incidents SET acknowledged_by = %s, acknowledged_at = %s, ack_note = %s WHERE incident_id = %s",
        (principal.username, now, (body.note if body else ""), incident_id),
    )
    updated = conn.execute(f"{_INCIDENTS} WHERE i.incident_id = %s", (incident_id,)).fetchone()
    assert updated is not None
    return _item(updated)


class WindowIn(BaseModel):
    camera_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    unit_code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    unit_set: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    starts_at: datetime | None = Field(default=None, description="one-off: RFC 3339 with offset")
    ends_at: datetime | None = None
    weekdays: list[int] = Field(default_factory=list, description="weekly: ISO weekdays, 1 = Monday")
    local_start: time | None = Field(default=None, description="weekly: local time (PULSE_TIMEZONE)")
    local_end: time | None = None
    in_force_from: datetime | None = Field(
        default=None, description="weekly: in force from (RFC 3339 with offset); default: now"
    )
    note: str = Field(default="", max_length=500, pattern=FREE_TEXT)
    reason: str = Field(
        default="",
        max_length=500,
        pattern=FREE_TEXT,
        description="why, when the window starts before now (it changes figures already seen): at least 10 characters",
    )


def _window(row: dict) -> dict:
    return {
        "id": row["window_id"],
        "camera_id": row["camera_id"],
        "unit_set": row["unit_set"],
        "unit_code": row["unit_code"],
        "starts_at": row["starts_at"].isoformat() if row["starts_at"] else None,
        "ends_at": row["ends_at"].isoformat() if row["ends_at"] else None,
        "weekdays": row["weekdays"] or [],
        "local_start": row["local_start"].isoformat() if row["local_start"] else None,
        "local_end": row["local_end"].isoformat() if row["local_end"] else None,
        "note": row["note"],
        "created_by": row["created_by"],
        "created_at": row["created_at"].isoformat(),
        "in_force_from": row["in_force_from"].isoformat() if row["in_force_from"] else None,
        "reason": row["reason"],
    }


@router.get("/maintenance", summary="Maintenance windows: of your units' cameras, your units, and the whole fleet")
def list_windows(principal: Reader, conn: Conn) -> dict:
    """A scoped operator sees the windows that shape its units' figures — on its cameras, on its units (or units
    mapped to them), over everything — and not another unit's (issue 31)."""
    mapping = units.load_mapping(conn)
    return {
        "items": [
            _window(w)
            for w in maintenance.list_windows(conn)
            if (shaped := maintenance.units_shaped(w, mapping)) is None
            or any(principal.can_read_unit(*unit) for unit in shaped)
        ]
    }


@router.post("/maintenance", status_code=201, summary="Add a maintenance window (admin)")
def add_window(principal: AdminOnly, conn: ActingConn, settings: AppSettings, now: Now, body: WindowIn) -> dict:
    times = (("starts_at", body.starts_at), ("ends_at", body.ends_at), ("in_force_from", body.in_force_from))
    for field, value in times:
        if value is not None and value.tzinfo is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{field}: give the offset (e.g. +07:00)")
    try:
        window_id = maintenance.add_window(
            conn,
            camera_id=body.camera_id,
            unit=(body.unit_set or settings.unit_set, body.unit_code) if body.unit_code else None,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            weekdays=body.weekdays,
            local_start=body.local_start,
            local_end=body.local_end,
            note=body.note,
            created_by=principal.username,
            now=now,
            in_force_from=body.in_force_from,
            reason=body.reason,
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    row = conn.execute("SELECT * FROM maintenance_windows WHERE window_id = %s", (window_id,)).fetchone()
    assert row is not None
    return _window(row)


@router.delete("/maintenance/{window_id}", status_code=204, summary="Remove a maintenance window (admin)")
def remove_window(principal: AdminOnly, conn: ActingConn, window_id: Annotated[int, Path(ge=1)]) -> None:
    if not maintenance.remove_window(conn, window_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no maintenance window {window_id}")
