"""What the gateway must know from the database to answer a push: which gateway a token belongs to, and which
unit each known camera is in. Held in memory and refreshed in the background, so a push needs no database
round trip and the gateway keeps accepting (into Kafka or its spool) while PostgreSQL restarts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from services.core import auth
from services.core.db import DbConn, connect
from services.core.settings import Settings
from services.core.units import load_mapping

log = logging.getLogger("pulse.gateway")


@dataclass(frozen=True)
class KnownGateway:
    gateway_id: int
    name: str
    # the unit an unknown camera is registered under (the gateway's first unit)
    home: auth.UnitKey
    # every unit the gateway may report for, in every unit set (through the mapping)
    scope: frozenset[auth.UnitKey]


class Registry:
    def __init__(self, settings: Settings, *, refresh_s: float = 15.0) -> None:
        self.settings = settings
        self.refresh_s = refresh_s
        self._gateways: dict[str, KnownGateway] = {}  # by token hash
        self._cameras: dict[str, auth.UnitKey] = {}
        self._cameras_seen_until: datetime | None = None
        self._misses: dict[str, float] = {}  # token hash -> when a lookup last found nothing
        self._refreshed_at = 0.0
        self._miss_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self.refresh)
        self._task = asyncio.create_task(self._refresh_forever(), name="registry-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception as exc:
                log.warning("registry refresh failed (%s); serving the last copy", exc.__class__.__name__)

    def refresh(self) -> None:
        self._refreshed_at = time.monotonic()
        with connect(self.settings, autocommit=True) as conn:
            self._gateways = self._load_gateways(conn)
            self._load_cameras(conn)
        self._misses.clear()

    @staticmethod
    def _load_gateways(conn: DbConn) -> dict[str, KnownGateway]:
        mapping = load_mapping(conn)
        rows = conn.execute(
            "SELECT g.gateway_id, g.name, g.token_hash, gu.unit_set, gu.unit_code FROM gateways g"
            " JOIN gateway_units gu USING (gateway_id) WHERE g.revoked_at IS NULL"
            " ORDER BY g.gateway_id, gu.unit_set, gu.unit_code"
        ).fetchall()
        units: dict[str, list[auth.UnitKey]] = {}
        names: dict[str, tuple[int, str]] = {}
        for r in rows:
            units.setdefault(r["token_hash"], []).append((r["unit_set"], r["unit_code"]))
            names[r["token_hash"]] = (r["gateway_id"], r["name"])
        return {
            h: KnownGateway(names[h][0], names[h][1], held[0], auth.visible_units(held, mapping))
            for h, held in units.items()
        }

    def _load_cameras(self, conn: DbConn) -> None:
        since = self._cameras_seen_until
        rows = conn.execute(
            "SELECT camera_id, unit_set, unit_code, updated_at FROM cameras"
            " WHERE %s::timestamptz IS NULL OR updated_at >= %s::timestamptz",
            (since, since),
        ).fetchall()
        for r in rows:
            self._cameras[r["camera_id"]] = (r["unit_set"], r["unit_code"])
            if self._cameras_seen_until is None or r["updated_at"] > self._cameras_seen_until:
                self._cameras_seen_until = r["updated_at"]

    async def gateway_for_token(self, token: str) -> KnownGateway | None:
        token_hash = auth.hash_token(token)
        known = self._gateways.get(token_hash)
        if known is not None:
            return known
        # Perhaps a gateway added since the last refresh: reload, but at most once a second and one at a time,
        # and remember a miss for a while, so bad tokens cannot turn every request into database queries.
        missed = self._misses.get(token_hash)
        if missed is not None and time.monotonic() - missed < self.refresh_s:
            return None
        async with self._miss_lock:
            known = self._gateways.get(token_hash)
            if known is None:
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - self._refreshed_at)))
                try:
                    await asyncio.to_thread(self.refresh)
                except Exception:
                    pass
                known = self._gateways.get(token_hash)
        if known is None:
            self._misses[token_hash] = time.monotonic()
        return known

    def camera_unit(self, camera_id: str) -> auth.UnitKey | None:
        return self._cameras.get(camera_id)
