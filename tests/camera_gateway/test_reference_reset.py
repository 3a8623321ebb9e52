"""The reference picture survives a prober restart, and an operator's reset (API) makes the prober forget it."""

from datetime import UTC, datetime

import cv2
import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient

from camera_gateway.prober import Prober
from camera_gateway.registry import KnownGateway
from services.api.app import create_app
from services.core import accounts, sealing
from tests.streams import add_streamed_camera

pytestmark = pytest.mark.db
T = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
UNIT = ("2024", "15865")


async def test_reset_reference(conn: psycopg.Connection, settings) -> None:
    add_streamed_camera(conn, settings, "cam-1", UNIT[1], "rtsp://x/1", unit_set=UNIT[0])
    picture = np.full((180, 320), 90, np.uint8)
    conn.execute(
        "INSERT INTO camera_snapshots (camera_id, kind, jpeg, taken_at) VALUES ('cam-1', 'reference', %s, %s)",
        (cv2.imencode(".jpg", picture)[1].tobytes(), T),
    )
    prober = Prober(settings, registry=None, publisher=None, clock=lambda: T)  # type: ignore[arg-type]
    prober.gateway = KnownGateway(1, "prober", UNIT, frozenset({UNIT}))
    prober.keys = sealing.keyring(settings)  # what start() sets up with the gateway
    prober.db.open()
    try:
        await prober._refresh()
        cam = prober.cameras["cam-1"]
        assert cam.reference is not None and abs(float(cam.reference.mean()) - 90) < 2  # kept across restarts
        assert cam.reference_since == T

        accounts.create_operator(
            conn, username="bs", role="commune", unit_set="2024", unit_codes=["15865"], password=None
        )
        accounts.create_operator(conn, username="v", role="viewer", unit_set="2024", unit_codes=[], password=None)
        with TestClient(create_app(settings)) as client:
            viewer = {"Authorization": f"Bearer {accounts.create_api_token(conn, username='v')}"}
            assert client.post("/api/v1/cameras/cam-1/reference/reset", headers=viewer).status_code == 403
            operator = {"Authorization": f"Bearer {accounts.create_api_token(conn, username='bs')}"}
            assert client.post("/api/v1/cameras/cam-1/reference/reset", headers=operator).status_code == 200
            assert client.get("/api/v1/cameras/cam-1/snapshot?kind=reference", headers=operator).status_code == 404
        await prober._refresh()
        assert cam.reference is None and cam.reference_since is None
    finally:
        prober.db.close()
