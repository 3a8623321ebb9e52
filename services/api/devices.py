"""`/api/v1/devices`: the devices the gateways collect from, with their connection state (SPEC §4).

Never a password, secret or push token: `services.core.devices.list_devices` does not read them. A commune
operator sees the devices of its own units; `unit` filters by a unit of the view's set (a 2025 xã shows the
devices of the 2024 communes it replaced).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.api.deps import AppSettings, Conn, Reader, conditional, require_unit
from services.api.uptime import UnitSetParam
from services.core.devices import list_devices
from services.core.units import load_mapping

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])


@router.get("", summary="Devices (cameras, NVRs, camera clouds) with their connection state")
def get_devices(
    principal: Reader,
    request: Request,
    conn: Conn,
    settings: AppSettings,
    unit: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="unit code in unit_set")] = None,
    unit_set: UnitSetParam = None,
) -> Response:
    view = unit_set or settings.unit_set
    if unit is not None:
        require_unit(principal, view, unit)
    mapping = load_mapping(conn)
    items = []
    for d in list_devices(conn):
        own = (d["unit_set"], d["unit_code"])
        if not principal.can_read_unit(*own):
            continue
        view_code = d["unit_code"] if d["unit_set"] == view else mapping.get(own, (view, None))[1]
        if unit is not None and view_code != unit:
            continue
        items.append(
            {
                "name": d["name"],
                "kind": d["kind"],
                "unit_set": d["unit_set"],
                "unit_code": d["unit_code"],
                "unit_name": d["unit_name"],
                "view_unit_code": view_code,
                "url": d["url"],
                "pushes": d["pushes"],
                "state": d["state"],
                "state_since": d["state_since"].isoformat(),
                "last_error": d["last_error"] or None,
                "last_seen": d["last_seen_at"].isoformat() if d["last_seen_at"] else None,
                "channels": [{"channel": k, "camera_id": v} for k, v in sorted(d["channels"].items())],
            }
        )
    return conditional(request, {"unit_set": view, "items": items})
