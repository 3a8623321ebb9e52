"""`pulse simulate`: the district of `world.py`, played through the real path — camera heartbeats POSTed to the
camera gateway (one simulated gateway per commune, each with its own token), app sessions POSTed to the
app-events collector with an app key — so everything downstream (Kafka, ingest, uptime, alerts, engagement) sees
what a real district would send.

Set-up is idempotent: `prepare` registers the cameras (named, in their communes), one gateway per commune (tokens
kept in `<data_dir>/simulator.json`, since the database holds only their hashes), the app, synthetic populations
(labelled "số liệu mô phỏng (synthetic, demo)", only where none was entered) and the nightly maintenance window.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import httpx

from services.core import accounts, auth, sealing, units
from services.core.cameras import CameraRow, import_cameras
from services.core.db import DbConn, connect
from services.core.failover import Endpoints
from services.core.maintenance import add_window
from services.core.settings import Settings
from services.demo.world import SimCamera, World, WorldConfig, beat_times, citizen_ids, day_number

log = logging.getLogger("pulse.simulate")
APP_NAME = "HoangHoaS (mô phỏng)"
SYNTHETIC = "số liệu mô phỏng (synthetic, demo)"


@dataclass
class Credentials:
    gateways: dict[str, str]  # unit code → token
    app_key: str


def _state_file(settings: Settings) -> Path:
    return Path(settings.data_dir) / "simulator.json"


def prepare(settings: Settings, world: World) -> Credentials:
    path = _state_file(settings)
    saved = json.loads(path.read_text()) if path.exists() else {}
    with connect(settings, autocommit=True) as conn:
        rows = [
            CameraRow(c.camera_id, c.unit_code, c.name, world.config.interval_s, None, None, None)
            for c in world.cameras
        ]
        import_cameras(conn, rows, unit_set="2024")
        tokens: dict[str, str] = {}
        for code, _ in world.units:
            token = saved.get("gateways", {}).get(code)
            tokens[code] = (
                token
                if token and _gateway_token_ok(conn, f"sim-{code}", token)
                else _gateway(conn, f"sim-{code}", code)
            )
        app_key = saved.get("app_key")
        if app_key is None or not _app_key_ok(conn, app_key):
            conn.execute("DELETE FROM apps WHERE name = %s", (APP_NAME,))
            app_key = accounts.create_app(conn, name=APP_NAME)
        _populations(conn, world)
        if not conn.execute(
            "SELECT 1 FROM maintenance_windows WHERE unit_code = %s AND note = 'bảo trì định kỳ (mô phỏng)'",
            (world.maintenance_unit,),
        ).fetchone():
            add_window(
                conn,
                unit=("2024", world.maintenance_unit),
                weekdays=range(1, 8),
                local_start=time(2),
                local_end=time(3),
                note="bảo trì định kỳ (mô phỏng)",
                created_by="simulator",
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"gateways": tokens, "app_key": app_key}))
    path.chmod(0o600)
    return Credentials(tokens, app_key)


def _gateway(conn: DbConn, name: str, code: str) -> str:
    """A simulated gateway of a commune with a new token (created, or its token replaced: the old one was lost)."""
    if conn.execute("SELECT 1 FROM gateways WHERE name = %s", (name,)).fetchone() is None:
        return accounts.create_gateway(conn, name=name, unit_set="2024", unit_codes=[code])
    token = auth.new_token("gateway")
    conn.execute(
        "UPDATE gateways SET token_hash = %s, revoked_at = NULL WHERE name = %s", (auth.hash_token(token), name)
    )
    return token


def _gateway_token_ok(conn: DbConn, name: str, token: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM gateways WHERE name = %s AND token_hash = %s AND revoked_at IS NULL",
        (name, auth.hash_token(token)),
    ).fetchone()
    return row is not None


def _app_key_ok(conn: DbConn, key: str) -> bool:
    row = conn.execute("SELECT 1 FROM apps WHERE key_hash = %s AND revoked_at IS NULL", (auth.hash_token(key),))
    return row.fetchone() is not None


def _populations(conn: DbConn, world: World) -> None:
    """Synthetic populations where none was entered: citizens with the app ÷ the commune's adoption."""
    counts: dict[str, int] = defaultdict(int)
    for citizen in range(world.config.citizens):
        counts[world.home(citizen)] += 1
    for code, _ in world.units:
        row = conn.execute("SELECT population FROM units WHERE unit_set = '2024' AND code = %s", (code,)).fetchone()
        if row is not None and row["population"] is None:
            population = int(counts[code] / world.adoption[code])
            units.set_population(
                conn, unit_set="2024", code=code, population=population, households=None, note=SYNTHETIC
            )


@dataclass
class Simulator:
    settings: Settings
    world: World
    credentials: Credentials
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # The gateways and collectors to send to (default: this machine's, from the settings); with several, each
    # request goes to the one that answered last, the next when it cannot be reached (`services.core.failover`).
    gateway_urls: list[str] = field(default_factory=list)
    collector_urls: list[str] = field(default_factory=list)
    start: datetime = field(default_factory=lambda: datetime.now(UTC))
    held: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))  # uplink down: kept for later
    sent: int = 0
    sessions: int = 0

    def __post_init__(self) -> None:
        s = self.settings
        self.gateways = Endpoints(self.gateway_urls or f"http://{s.bind_host}:{s.gateway_port}")
        self.collectors = Endpoints(self.collector_urls or f"http://{s.bind_host}:{s.app_events_port}")

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            await self._wait_for(http, [f"{self.gateways.urls[0]}/healthz", f"{self.collectors.urls[0]}/healthz"], stop)
            last = self.clock()
            while not stop.is_set():
                now = self.clock()
                await self.cameras_between(http, last, now)
                await self.citizens_between(http, last, now)
                last = now
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except TimeoutError:
                    pass

    async def cameras_between(self, http: httpx.AsyncClient, a: datetime, b: datetime) -> None:
        """Every beat due in (a, b], per commune gateway, and each gateway's keep-alive; a gateway whose uplink is
        down keeps its beats and sends them all when it is back."""
        interval = self.world.config.interval_s
        due: dict[str, list[dict]] = defaultdict(list)
        for cam in self.world.cameras:
            for ts in beat_times(self.world.beat_offset(cam), interval, a, b):
                item = self.world.heartbeat(cam, ts)
                if item is not None:
                    due[cam.unit_code].append({"camera_id": cam.camera_id, "ts": ts.isoformat(), **item})
        down = self.world.uplink_down_unit(b)
        for code, token in self.credentials.gateways.items():
            items = self.held.pop(code, []) + due.get(code, [])
            if code == down:
                self.held[code] = items
                continue
            # A gateway with its own power and uplink says it is alive even when none of its cameras speak (a
            # power cut in the commune): its watermark moves, so its silent cameras read down, not unknown.
            await self._post(
                http, self.gateways, "/v1/keepalive", {"ts": b.isoformat()}, {"Authorization": f"Bearer {token}"}
            )
            for i in range(0, len(items), 500):
                await self._post(
                    http,
                    self.gateways,
                    "/v1/heartbeats",
                    {"heartbeats": items[i : i + 500]},
                    {"Authorization": f"Bearer {token}"},
                )
            self.sent += len(items)

    async def citizens_between(self, http: httpx.AsyncClient, a: datetime, b: datetime) -> None:
        seconds = (b - a).total_seconds()
        day = day_number(b, self.start)
        rate = self.world.sessions_per_second(b, self.settings.tz, day)
        expected = rate * seconds
        count = int(expected) + (1 if (b.timestamp() * 7919) % 1 < expected - int(expected) else 0)
        for n in range(count):
            citizen, unit_code, events = self.world.session(b, n, day)
            user_id, install = citizen_ids(citizen)
            body = {
                "sent_at": b.isoformat(),
                "context": {"install_id": install, "platform": "android", "app_version": "3.1.0", "locale": "vi-VN"},
                "events": [
                    {
                        "event_id": str(uuid.uuid4()),
                        "event": name,
                        "created_at": (b - timedelta(seconds=5 * (len(events) - i))).isoformat(),
                        "user_id": user_id,
                        "unit_code": unit_code,
                        "properties": props,
                    }
                    for i, (name, props) in enumerate(events)
                ],
            }
            await self._post(http, self.collectors, "/v1/events", body, {"X-App-Key": self.credentials.app_key})
            self.sessions += 1

    async def _wait_for(self, http: httpx.AsyncClient, urls: list[str], stop: asyncio.Event) -> None:
        """Start once the gateway and the collector answer (in `pulse up` they start beside the simulator)."""
        for url in urls:
            for _ in range(120):
                try:
                    if (await http.get(url)).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                try:
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
                    return
                except TimeoutError:
                    pass

    async def _post(self, http: httpx.AsyncClient, to: Endpoints, path: str, body: dict, headers: dict) -> None:
        try:
            response = await to.post(http, path, json=body, headers=headers)
            if response.status_code >= 400:
                log.warning("simulator: %s answered %s: %s", path, response.status_code, response.text[:200])
        except httpx.HTTPError as exc:
            log.warning("simulator: %s unreachable everywhere (%s)", path, exc.__class__.__name__)


def world_for(settings: Settings, config: WorldConfig) -> World:
    with connect(settings, autocommit=True) as conn:
        communes = [(u["code"], u["name"]) for u in units.list_units(conn, "2024")]
    return World(config, communes)


__all__ = ["Credentials", "SimCamera", "Simulator", "World", "WorldConfig", "prepare", "world_for"]


# --- cameras that cannot push: real video for the prober -----------------------------------------------------

RTSP_SERVER = Path(__file__).with_name("rtsp_server.py")
DEMO_RTSP_PORT = 8554  # RTSP's usual unprivileged port
_PICTURE = "video/x-raw,width=640,height=360,framerate=15/1"
_RTP = "videoconvert ! video/x-raw,format=I420 ! jpegenc quality=70 ! rtpjpegpay name=pay0 pt=26"
# mount → (camera name, GStreamer source): a street scene stand-in, a dead (black) camera, a blurred lens and a
# covered one (flat grey). Checked with the prober: only the first reads healthy.
STREAMS = {
    # a detailed, moving picture (colour bars scrolling): a healthy camera
    "nga-tu": ("Ngã tư (luồng video)", f"videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! {_PICTURE}"),
    "den": ("Camera tối (luồng video)", f"videotestsrc is-live=true pattern=black ! {_PICTURE}"),
    # the same picture made tiny and blown up again: no sharp edges left, as through a dirty or unfocused lens
    "mo": (
        "Ống kính mờ (luồng video)",
        "videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! video/x-raw,width=64,height=36,framerate=15/1"
        f" ! videoscale ! {_PICTURE}",
    ),
    "che": (
        "Ống kính bị che (luồng video)",
        f"videotestsrc is-live=true pattern=solid-color foreground-color=0xff5a5a5a ! {_PICTURE}",
    ),
}


def start_streams(port: int) -> subprocess.Popen[str] | None:
    """Debian's GStreamer RTSP server with the demo's streams; None (and a warning) when it is not installed."""
    if not Path("/usr/bin/python3").exists():
        log.warning("no /usr/bin/python3: the demo runs without video streams for the prober")
        return None
    args = [arg for mount, (_, source) in STREAMS.items() for arg in (mount, f"{source} ! {_RTP}")]
    proc = subprocess.Popen(
        ["/usr/bin/python3", str(RTSP_SERVER), str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "listening":
        log.warning("the GStreamer RTSP server did not start (make setup installs it): no video streams")
        proc.kill()
        return None
    return proc


def prepare_streams(settings: Settings, world: World, port: int) -> str:
    """Cameras with a stream_url on the demo's RTSP server, in the first commune, and the prober's gateway;
    returns that gateway's token (for PULSE_PROBER_TOKEN)."""
    code = world.units[0][0]
    path = _state_file(settings)
    saved = json.loads(path.read_text()) if path.exists() else {}
    with connect(settings, autocommit=True) as conn:
        rows = [
            CameraRow(f"HH-VIDEO-{i + 1:02d}", code, name, 60, f"rtsp://demo:demo@127.0.0.1:{port}/{mount}", None, None)
            for i, (mount, (name, _)) in enumerate(STREAMS.items())
        ]
        import_cameras(conn, rows, unit_set="2024", keys=sealing.keyring(settings))
        token = saved.get("prober")
        if not token or not _gateway_token_ok(conn, "sim-prober", token):
            token = _gateway(conn, "sim-prober", code)
    saved["prober"] = token
    path.write_text(json.dumps(saved))
    return token
