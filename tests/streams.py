"""A camera with a stream URL, stored sealed as `pulse cameras import` stores it (services/core/sealing.py)."""

from __future__ import annotations

from services.core import sealing
from services.core.cameras import CameraRow, import_cameras
from services.core.db import DbConn
from services.core.settings import Settings


def add_streamed_camera(
    conn: DbConn, settings: Settings, camera_id: str, unit_code: str, url: str, *, name: str = "", unit_set="2024"
) -> None:
    row = CameraRow(camera_id, unit_code, name, 60, url, None, None)
    import_cameras(conn, [row], unit_set=unit_set, keys=sealing.keyring(settings))
