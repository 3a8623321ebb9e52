"""What the gateway must know from the database to answer a push: which gateway a token belongs to, and which
unit each known camera is in. Held in memory and refreshed in the background, so a push needs no database
round trip and the gateway keeps accepting (into Kafka or its spool) while PostgreSQL restarts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from services.core import auth
from services.core.db import DbConn, connect
from services.core.settings import Settings
from services.core.token_cache import TokenCache
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
        # a miss is remembered until the next periodic refresh would have found it anyway
        self._gateways: TokenCache[KnownGateway] = TokenCache(self._load, miss_ttl_s=refresh_s)
        self._cameras: dict[str, auth.UnitKey] = {}
        self._cameras_seen_until: datetime | None = None
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
        self._gateways.reload()

    def _load(self) -> dict[str, KnownGateway]:
        """The gateways by token hash; the camera map is brought up to date on the same connection."""
        with connect(self.settings, autocommit=True) as conn:
            gateways = self._load_gateways(conn)
            self._load_cameras(conn)
        return gateways

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
        return await self._gateways.lookup(token)

    def camera_unit(self, camera_id: str) -> auth.UnitKey | None:
        return self._cameras.get(camera_id)
