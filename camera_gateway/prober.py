"""The stream prober (SPEC §4): for cameras that cannot push, the gateway looks at their video itself.

It reports as one registered gateway (`PULSE_PROBER_TOKEN`), so its heartbeats and keep-alives go through the
same publisher (Kafka or spool), carry that gateway's id, and move its watermark: if the prober stops, its
cameras read `unknown`, not `down`. Every camera of that gateway's units that has a `stream_url` is probed once
per `probe_interval_s`, at a fixed offset inside the interval (a hash of its id), so probes spread evenly
instead of bursting; `prober_concurrency` worker processes do the reading (`probe.ProbeWorker`, each probe
under a hard deadline). A probe's verdict goes through `ProbeStreak` (several bad probes before `degraded`);
the latest thumbnail and the reference picture are kept in `camera_snapshots` for the dashboard.
Stream URLs are read from the database here and used only to open streams; they are never logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from camera_gateway.diagnostics import ProbeStreak, Thresholds, next_reference, thresholds_from
from camera_gateway.probe import ProbeResult, ProbeWorker
from camera_gateway.publisher import Publisher, heartbeat_records, keepalive_record
from camera_gateway.registry import KnownGateway, Registry
from services.core import sealing
from services.core.db import pool
from services.core.heartbeats import Delivery, make_item
from services.core.settings import Settings

log = logging.getLogger("pulse.prober")
PROBES = Counter("pulse_prober_probes_total", "Probes by the status they reported", ["status"])
PROBE_SECONDS = Histogram(
    "pulse_prober_probe_seconds", "Time to open, read and judge one stream", buckets=(1, 2, 3, 5, 8, 13, 20, 30)
)
CAMERAS_PROBED = Gauge("pulse_prober_cameras", "Cameras with a stream_url this prober probes")
QUEUED = Gauge("pulse_prober_queue", "Probes due but waiting for a worker (a backlog means too few workers)")
REFRESH_S = 30.0


@dataclass
class _Camera:
    camera_id: str
    url: str
    url_digest: bytes  # the stored digest of `url`: unsealed again only when it changes
    offset: float  # seconds into each interval at which it is probed
    thresholds: Thresholds = field(default_factory=Thresholds)
    streak: ProbeStreak = field(default_factory=ProbeStreak)
    previous: np.ndarray | None = None
    reference: np.ndarray | None = None
    reference_since: datetime | None = None  # when the current reference was first taken
    due: float = 0.0


def offset_of(camera_id: str, interval_s: float) -> float:
    """Where in each interval a camera is probed: stable across restarts, spread evenly over cameras."""
    digest = hashlib.sha256(camera_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * interval_s


class Prober:
    def __init__(
        self, settings: Settings, registry: Registry, publisher: Publisher, clock: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.publisher = publisher
        self.clock = clock
        self.interval = float(settings.probe_interval_s)
        self.cameras: dict[str, _Camera] = {}
        self.queue: asyncio.Queue[_Camera] = asyncio.Queue()
        self.queued: set[str] = set()
        self.tasks: list[asyncio.Task[None]] = []
        self.gateway: KnownGateway | None = None
        self.keys: sealing.Keyring | None = None  # stream URLs are stored sealed (services/core/sealing.py)
        # One small pool for the camera list and the snapshots: a probe's snapshot write is on the hot path
        # (thousands a minute in a district), so it must not pay for a new connection each time.
        self.db = pool(settings, min_size=1, max_size=2, name="prober")

    async def start(self) -> None:
        token = self.settings.prober_token
        if token is None:
            return
        self.gateway = await self.registry.gateway_for_token(token.get_secret_value())
        if self.gateway is None:
            log.error("PULSE_PROBER_TOKEN is not the token of an active gateway: the prober does not run")
            return
        try:
            self.keys = sealing.keyring(self.settings)
        except sealing.SealingError as exc:
            log.error("the prober does not run: stream URLs are stored encrypted (%s)", exc)
            return
        self.db.open(wait=False)  # the database may be away now: the pool connects when it can
        self.tasks.append(asyncio.create_task(self._schedule(), name="prober-schedule"))
        for i in range(self.settings.prober_concurrency):
            self.tasks.append(
                asyncio.create_task(
                    self._work(ProbeWorker(deadline_s=self.settings.probe_deadline_s)), name=f"prober-{i}"
                )
            )

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if not self.db.closed:
            await asyncio.to_thread(self.db.close)

    def _load(self) -> list[dict]:
        with self.db.connection(timeout=5) as conn:
            return conn.execute(
                "SELECT c.camera_id, c.stream_url_enc, c.stream_url_digest, c.unit_set, c.unit_code,"
                " c.probe_thresholds, c.reference_reset_at, s.jpeg AS reference_jpeg, s.taken_at AS reference_taken_at"
                " FROM cameras c LEFT JOIN camera_snapshots s ON s.camera_id = c.camera_id AND s.kind = 'reference'"
                " WHERE c.stream_url_enc IS NOT NULL AND c.retired_at IS NULL"
            ).fetchall()

    async def _refresh(self) -> None:
        assert self.gateway is not None
        try:
            rows = await asyncio.to_thread(self._load)
        except Exception as exc:
            log.warning("prober could not reload cameras (%s)", exc.__class__.__name__)
            return
        loop_now = asyncio.get_running_loop().time()
        wanted = {r["camera_id"]: r for r in rows if (r["unit_set"], r["unit_code"]) in self.gateway.scope}
        for cid in set(self.cameras) - set(wanted):
            del self.cameras[cid]
        CAMERAS_PROBED.set(len(wanted))
        for cid, row in wanted.items():
            cam = self.cameras.get(cid)
            digest = bytes(row["stream_url_digest"])
            if cam is None or cam.url_digest != digest:
                url = self._unseal(cid, row["stream_url_enc"])
                if url is None:
                    self.cameras.pop(cid, None)
                    continue
            else:
                url = cam.url
            if cam is None:
                offset = offset_of(cid, self.interval)
                cam = self.cameras[cid] = _Camera(cid, url, digest, offset, due=loop_now + offset)
                if row["reference_jpeg"] is not None:  # the reference survives a restart
                    picture = cv2.imdecode(np.frombuffer(row["reference_jpeg"], np.uint8), cv2.IMREAD_GRAYSCALE)
                    cam.reference, cam.reference_since = picture, row["reference_taken_at"]
            cam.url, cam.url_digest = url, digest
            cam.thresholds = thresholds_from(row["probe_thresholds"])
            reset = row["reference_reset_at"]
            if reset is not None and cam.reference_since is not None and reset > cam.reference_since:
                cam.reference, cam.reference_since = None, None  # an operator asked: the next good picture

    def _unseal(self, camera_id: str, sealed: bytes) -> str | None:
        assert self.keys is not None
        try:
            return self.keys.unseal(sealed, f"camera {camera_id}'s stream URL")
        except sealing.SealingError as exc:
            log.error("%s; not probed", exc)
            return None

    async def _schedule(self) -> None:
        assert self.gateway is not None
        loop = asyncio.get_running_loop()
        next_refresh = 0.0
        while True:
            now = loop.time()
            if now >= next_refresh:
                await self._refresh()
                next_refresh = now + REFRESH_S
                await self._keepalive()
            for cam in self.cameras.values():
                if cam.due <= now and cam.camera_id not in self.queued:
                    self.queued.add(cam.camera_id)
                    self.queue.put_nowait(cam)
                    cam.due += self.interval * max(1, int((now - cam.due) // self.interval) + 1)
            QUEUED.set(self.queue.qsize())
            await asyncio.sleep(min(1.0, self.interval / 4))

    async def _keepalive(self) -> None:
        assert self.gateway is not None
        now = self.clock()
        await self.publisher.publish([keepalive_record(self.gateway.gateway_id, now, now)])

    async def _work(self, worker: ProbeWorker) -> None:
        try:
            while True:
                cam = await self.queue.get()
                try:
                    started = asyncio.get_running_loop().time()
                    result = await asyncio.to_thread(
                        worker.probe, cam.url, previous=cam.previous, reference=cam.reference, thresholds=cam.thresholds
                    )
                    PROBE_SECONDS.observe(asyncio.get_running_loop().time() - started)
                    await self._report(cam, result)
                except Exception:
                    log.exception("probe of camera %s failed", cam.camera_id)
                finally:
                    self.queued.discard(cam.camera_id)
        finally:
            await asyncio.to_thread(worker.close)

    async def _report(self, cam: _Camera, result: ProbeResult) -> None:
        assert self.gateway is not None
        diagnosis = result.diagnosis
        status = cam.streak.status(diagnosis, cam.thresholds)
        now = self.clock()
        item = make_item(
            camera_id=cam.camera_id,
            ts=now,
            status=status,
            metrics={"fps": round(diagnosis.fps, 2)} if diagnosis.fps else None,
            quality=diagnosis.quality() if diagnosis.signal else None,
        )
        delivery = Delivery(self.gateway.gateway_id, self.gateway.home[0], self.gateway.home[1], now)
        await self.publisher.publish(heartbeat_records([item], delivery))
        PROBES.labels(status if result.error is None else "no_signal").inc()
        if result.last is not None:
            cam.reference = next_reference(cam.reference, result.last, diagnosis)
            if cam.reference is not None and cam.reference_since is None:
                cam.reference_since = now
            cam.previous = result.last
            await asyncio.to_thread(self._keep_snapshots, cam, result.last, now)

    def _keep_snapshots(self, cam: _Camera, last: np.ndarray, now: datetime) -> None:
        pictures = [("thumbnail", last)] + ([("reference", cam.reference)] if cam.reference is not None else [])
        with self.db.connection(timeout=5) as conn:
            for kind, picture in pictures:
                ok, jpeg = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 70])
                if ok:
                    conn.execute(
                        "INSERT INTO camera_snapshots (camera_id, kind, jpeg, taken_at) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (camera_id, kind)"
                        " DO UPDATE SET jpeg = EXCLUDED.jpeg, taken_at = EXCLUDED.taken_at",
                        (cam.camera_id, kind, jpeg.tobytes(), now),
                    )
