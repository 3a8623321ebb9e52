"""`/api/v1/cameras`: the registry with live state (SPEC §5 live rules). Never exposes `stream_url`."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status

from services.api.deps import (
    ActingConn,
    AppSettings,
    Conn,
    Live,
    Now,
    ReadConn,
    Reader,
    conditional,
    on_this_connection,
    require_unit,
)
from services.api.uptime import UnitSetParam, seconds_item
from services.core import audit, camera_state, uptime
from services.core.camera_state import CameraSnapshot
from services.core.heartbeats import CAMERA_ID_PATTERN

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])


def camera_item(c: CameraSnapshot, state: str) -> dict:
    return {
        "camera_id": c.camera_id,
        "name": c.name,
        "address": c.detail.get("address"),
        "unit_set": c.unit_set,
        "unit_code": c.unit_code,
        "view_unit_code": c.view_code,
        "state": state,
        "last_seen": c.last.ts.isoformat() if c.last else None,
        "last_status": c.last_status,
        "quality": c.detail.get("last_quality"),
        "metrics": c.detail.get("last_metrics"),
        "registered": c.registered,
        "interval_s": c.interval_s,
        "grace_s": c.grace_s if c.grace_s is not None else c.interval_s,
        "has_stream": c.has_stream,
        "lat": c.detail.get("lat"),
        "lon": c.detail.get("lon"),
        "gateway": c.detail.get("gateway_name"),
    }


@router.get("", summary="Cameras with their live state")
def list_cameras(
    principal: Reader,
    request: Request,
    conn: ReadConn,
    settings: AppSettings,
    now: Now,
    live: Live,
    unit: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="unit code in unit_set")] = None,
    state: Literal["up", "degraded", "down", "unknown"] | None = None,
    unit_set: UnitSetParam = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    view = unit_set or settings.unit_set
    if unit is not None:
        require_unit(principal, view, unit)
    # Live states on the live model's arrays (services/api/live.py), of the cameras asked for; full rows only for
    # the page asked for.
    model = live.view(on_this_connection(conn), view)
    cams = model.fleet
    readable = np.array([principal.can_read_unit(unit_set, code) for unit_set, code, _ in cams.keys], dtype=bool)
    picked = model.cameras_of([unit] if unit is not None else None)
    wanted = readable[cams.key[picked]] if len(cams.keys) else np.zeros(0, dtype=bool)
    if state is not None:
        wanted &= model.states(picked, now, settings.gateway_silence_s) == uptime.LIVE_STATES.index(state)
    ids = sorted(cams.ids[picked[wanted]].tolist())[offset : offset + limit]
    codes = {i: cams.codes[cams.unit[model.position[i]]] for i in ids}  # their units in the view, as the model has them
    page = camera_state.snapshots(conn, view_set=view, camera_ids=ids, detail=True, view_codes=codes)
    items = [camera_item(c, c.live(now, settings.gateway_silence_s)) for c in page]
    return conditional(request, {"unit_set": view, "total": int(wanted.sum()), "items": items})


@router.get("/{camera_id}", summary="One camera, with its availability over the last 24 hours")
def get_camera(
    principal: Reader,
    conn: ReadConn,
    settings: AppSettings,
    now: Now,
    camera_id: Annotated[str, Path(pattern=CAMERA_ID_PATTERN)],
    unit_set: UnitSetParam = None,
) -> dict:
    view = unit_set or settings.unit_set
    found = camera_state.snapshots(conn, view_set=view, camera_ids=[camera_id], detail=True)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id}")
    c = found[0]
    require_unit(principal, c.unit_set, c.unit_code)
    day = camera_state.window_seconds(conn, [c], camera_state.trailing(now, 24), now, tz=settings.tz)
    detail = camera_item(c, c.live(now, settings.gateway_silence_s))
    detail["last_24h"] = seconds_item(day[c.camera_id]) if c.camera_id in day else None
    return detail


@router.get(
    "/{camera_id}/snapshot",
    summary="What the prober last saw (thumbnail) or the camera's reference picture, as JPEG",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "no such camera or picture yet"}},
)
def get_snapshot(
    principal: Reader,
    conn: Conn,
    camera_id: Annotated[str, Path(pattern=CAMERA_ID_PATTERN)],
    kind: Literal["thumbnail", "reference"] = "thumbnail",
) -> Response:
    camera = conn.execute("SELECT unit_set, unit_code FROM cameras WHERE camera_id = %s", (camera_id,)).fetchone()
    if camera is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id}")
    require_unit(principal, camera["unit_set"], camera["unit_code"])
    row = conn.execute(
        "SELECT jpeg, taken_at FROM camera_snapshots WHERE camera_id = %s AND kind = %s", (camera_id, kind)
    ).fetchone()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {kind} of camera {camera_id} yet")
    headers = {"Cache-Control": "private, max-age=10", "X-Taken-At": row["taken_at"].isoformat()}
    return Response(bytes(row["jpeg"]), media_type="image/jpeg", headers=headers)


@router.post(
    "/{camera_id}/reference/reset",
    summary="Forget the camera's reference picture: the prober takes the next good picture as the new one",
)
def reset_reference(
    principal: Reader, conn: ActingConn, now: Now, camera_id: Annotated[str, Path(pattern=CAMERA_ID_PATTERN)]
) -> dict:
    camera = conn.execute("SELECT unit_set, unit_code FROM cameras WHERE camera_id = %s", (camera_id,)).fetchone()
    if camera is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id}")
    require_unit(principal, camera["unit_set"], camera["unit_code"])
    if not principal.can_act_on_unit(camera["unit_set"], camera["unit_code"]):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not reset a reference")
    with conn.transaction():
        conn.execute("UPDATE cameras SET reference_reset_at = %s WHERE camera_id = %s", (now, camera_id))
        conn.execute("DELETE FROM camera_snapshots WHERE camera_id = %s AND kind = 'reference'", (camera_id,))
        audit.record(conn, None, "cameras.reference_reset", "cameras", camera_id)
    return {"camera_id": camera_id, "reference_reset_at": now.isoformat()}
