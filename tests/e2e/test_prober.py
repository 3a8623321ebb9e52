"""The prober inside the gateway, through the real path: it probes cameras with a stream_url (files and a
stalled server on loopback), publishes heartbeats like a pushing gateway, and keeps thumbnails."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.camera_gateway.test_probe import StallingServer
from tests.e2e.harness import Clock, start_stack, until
from tests.streams import add_streamed_camera

pytestmark = [pytest.mark.db, pytest.mark.kafka]


def video(path: Path, source: str) -> str:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg not found: run `make setup`"
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", source, "-t", "3", "-pix_fmt", "yuv420p", str(path)],
        check=True,
        timeout=60,
    )
    return str(path)


async def test_the_prober_reports_each_camera_it_can_see_and_the_one_it_cannot(settings, conn, tmp_path) -> None:
    from datetime import UTC, datetime

    from services.core import accounts

    token = accounts.create_gateway(conn, name="prober", unit_set="2024", unit_codes=["15865"])
    stalling = StallingServer()
    streams = {
        "street": video(tmp_path / "street.mp4", "testsrc2=size=640x360:rate=25"),
        "dark": video(tmp_path / "dark.mp4", "color=c=black:size=640x360:rate=25"),
        "stalled": f"http://admin:s3cret@127.0.0.1:{stalling.port}/live",
        "other-commune": video(tmp_path / "other.mp4", "testsrc2=size=640x360:rate=25"),
        "dark-strict": str(tmp_path / "dark.mp4"),
    }
    for camera, url in streams.items():
        unit = "15877" if camera == "other-commune" else "15865"
        # per-camera thresholds: this one is degraded at its first bad probe
        limits = '{"bad_probes": 1}' if camera == "dark-strict" else None
        add_streamed_camera(conn, settings, camera, unit, url)
        conn.execute("UPDATE cameras SET probe_thresholds = %s::jsonb WHERE camera_id = %s", (limits, camera))
    from pydantic import SecretStr

    class WallClock(Clock):  # the prober stamps heartbeats with the time it probes: this test needs real time
        def __call__(self) -> datetime:
            return datetime.now(UTC)

    clock = WallClock(datetime.now(UTC))
    stack = await start_stack(
        settings,
        conn,
        tmp_path,
        clock,
        prober_token=SecretStr(token),
        probe_interval_s=2,
        probe_deadline_s=3.0,
        prober_concurrency=3,
    )
    try:

        def statuses() -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for r in stack.db().execute("SELECT camera_id, status FROM heartbeats ORDER BY ts"):
                out.setdefault(r["camera_id"], []).append(r["status"])
            return out

        def seen_enough() -> bool:
            s = statuses()
            return (
                len(s.get("street", [])) >= 2
                and "degraded" in s.get("dark", [])
                and "down" in s.get("stalled", [])
                and bool(s.get("dark-strict"))
            )

        try:
            await until(seen_enough, timeout=60, what="probes of every camera, the dark one degraded after 3")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; heartbeats so far: {statuses()}") from None
        got = statuses()
        assert set(got["street"]) == {"ok"}
        assert got["dark"][:2] == ["ok", "ok"]  # one bad picture does not flap: three in a row first
        assert got["dark-strict"][0] == "degraded"
        assert "other-commune" not in got  # outside the prober gateway's units
        thumbs = {r["camera_id"] for r in stack.db().execute("SELECT camera_id FROM camera_snapshots")}
        assert {"street", "dark"} <= thumbs and "stalled" not in thumbs
        quality = (
            stack.db()
            .execute("SELECT quality FROM heartbeats WHERE camera_id = 'dark' ORDER BY ts DESC LIMIT 1")
            .fetchone()["quality"]
        )
        assert quality["black"] is True
        answer = await stack.http.get(
            f"{stack.api_url}/api/v1/cameras/street/snapshot", headers={"Authorization": f"Bearer {stack.admin_token}"}
        )
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
        assert answer.content[:2] == b"\xff\xd8"  # a JPEG
        assert (await stack.http.get(f"{stack.api_url}/api/v1/cameras/street/snapshot")).status_code == 401
    finally:
        await stack.close()
        stalling.close()
