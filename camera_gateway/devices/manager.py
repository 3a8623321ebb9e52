"""The device collector: runs inside `pulse camera-gateway` when `PULSE_COLLECTOR_TOKEN` is set (SPEC §4).

It reports as that gateway — like the stream prober — so its heartbeats carry the gateway's id, and its own
keep-alive (every `REFRESH_S`) moves the gateway's watermark: a device that stops talking gives no heartbeats
and its cameras go `down` by SPEC §5; a collector that stops makes them `unknown` and opens one `gateway_down`.
Every device of the gateway's units gets one task running its protocol's loop (`connection.run_forever`); what
the device says goes through its `DeviceTracker` (pure) into heartbeats, published through the gateway's
`Publisher` (Kafka or the spool) exactly like pushed ones. A heartbeat of an unmapped channel names the device's
unit, so ingest registers camera `NAME-chN` there. Devices are re-read every `REFRESH_S`: added ones start,
removed ones stop, changed ones restart. Connection states are written back to `devices` (batched each second).

Secrets: a device's password is decrypted here into its `DeviceConfig` (repr hides it) and goes only to the
device; errors and logs carry words, never the secret.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from prometheus_client import Counter, Gauge

from camera_gateway.devices import tracker
from camera_gateway.devices.connection import (
    Backoff,
    ConnState,
    DeviceConfig,
    DeviceError,
    Unreachable,
    run_forever,
)
from camera_gateway.devices.events import DeviceEvent
from camera_gateway.devices.protocols import protocol
from camera_gateway.publisher import Publisher, heartbeat_records, keepalive_record
from camera_gateway.registry import KnownGateway, Registry
from camera_gateway.spool import SpoolFull
from services.core import auth
from services.core.db import pool
from services.core.devices import unseal
from services.core.heartbeats import CAMERA_ID, Delivery, make_item
from services.core.settings import Settings

log = logging.getLogger("pulse.devices")
REFRESH_S = 30.0
PUSH_STALL_S = 120.0
SEEN_WRITE_S = 30.0
CLIENT_SHARDS = 32
_NUMBERED_FROM_ONE = ("hikvision", "dahua")
DEVICES = Gauge("pulse_gateway_devices", "Devices this gateway collects from, by connection state", ["state"])
DEVICE_EVENTS = Counter("pulse_gateway_device_events_total", "Events read from devices", ["kind"])
DEVICE_MALFORMED = Counter(
    "pulse_gateway_device_malformed_total", "Device messages that could not be read (skipped)", ["kind"]
)
DEVICE_HEARTBEATS = Counter("pulse_gateway_device_heartbeats_total", "Heartbeats made from device events")
DEVICE_DROPPED = Counter(
    "pulse_gateway_device_heartbeats_dropped_total", "Heartbeats from devices dropped because the spool was full"
)
_NOT_ID = re.compile(r"[^A-Za-z0-9._:-]")
STATES: tuple[ConnState, ...] = ("connecting", "connected", "auth_failed", "unreachable", "protocol_error")


def camera_id_for(device: DeviceConfig, channel: str) -> str:
    """The camera a channel reports as: the operator's mapping, else `NAME-chKEY` (SPEC §4)."""
    mapped = device.channels.get(channel)
    if mapped is not None:
        return mapped
    return f"{device.name}-ch{_NOT_ID.sub('_', channel)}"[:64]


@dataclass
class _Link:
    """One device: its configuration, its tracker, and its connection state; the loop's `Reporter`."""

    collector: DeviceCollector
    config: DeviceConfig
    unit: auth.UnitKey
    push_token_hash: str | None
    fingerprint: str
    tracker: tracker.DeviceTracker
    state: ConnState = "connecting"
    state_since: datetime | None = None
    last_error: str = ""
    last_seen: datetime | None = None
    seen_written: datetime | None = None  # the last_seen the table holds
    task: asyncio.Task[None] | None = None
    dirty: bool = True
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _set(self, state: ConnState, error: str | None = None) -> None:
        if state != self.state:
            self.state, self.state_since = state, self.collector.clock()
            log.info("device %s: %s%s", self.config.name, state, f" ({error})" if error else "")
        if error is not None:
            self.last_error = error  # kept after a recovery: the operator sees what last went wrong
        self.dirty = True

    def connected(self) -> None:
        if not self.tracker.channels and self.config.kind in _NUMBERED_FROM_ONE:
            # A camera's heartbeat names no channel (Dahua) or channel 1 only once it beats (Hikvision): with
            # nothing mapped and nothing named, the device is a single camera, and that is its channel 1.
            self.tracker.channels.add("1")
        self._set("connected")

    def failed(self, error: DeviceError) -> None:
        self._set(error.state, str(error))

    def malformed(self, reason: str) -> None:
        DEVICE_MALFORMED.labels(self.config.kind).inc()
        log.warning("device %s: skipped a message it sent: %s", self.config.name, reason)

    async def events(self, events: Sequence[DeviceEvent]) -> None:
        DEVICE_EVENTS.labels(self.config.kind).inc(len(events))
        async with self._lock:  # one device's heartbeats leave in the order they were made
            at = self.collector.clock()
            self.last_seen = at
            if self.seen_written is None or (at - self.seen_written).total_seconds() >= SEEN_WRITE_S:
                self.dirty = True  # last_seen is for people: written every half minute, not at every event
            beats = self.tracker.observe(events, at, self.collector.intervals_for(self))
            await self.collector.publish(self, beats)


class DeviceCollector:
    def __init__(
        self, settings: Settings, registry: Registry, publisher: Publisher, clock: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.publisher = publisher
        self.clock = clock
        self.gateway: KnownGateway | None = None
        self.links: dict[int, _Link] = {}
        self.intervals: dict[str, float] = {}  # camera id → its expected interval (default 60 s)
        self.tasks: list[asyncio.Task[None]] = []
        self.db = pool(settings, min_size=1, max_size=2, name="devices")
        # Devices share a few clients and one TLS context. Not one client for all: httpcore scans its whole pool
        # each time a request starts or ends, so 5,000 streams in one pool made connecting quadratic (two minutes
        # with the event loop blocked for seconds, measured by bench/device_connections.py).
        tls = httpx.create_ssl_context()
        self.clients = [
            httpx.AsyncClient(
                verify=tls,
                timeout=httpx.Timeout(10.0, read=60.0),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=16),
            )
            for _ in range(CLIENT_SHARDS)
        ]
        self._warned_scope: set[str] = set()

    @property
    def running(self) -> bool:
        return self.gateway is not None

    async def start(self) -> None:
        token = self.settings.collector_token
        if token is None:
            return
        self.gateway = await self.registry.gateway_for_token(token.get_secret_value())
        if self.gateway is None:
            log.error("PULSE_COLLECTOR_TOKEN is not the token of an active gateway: no device is collected")
            return
        self.db.open(wait=False)
        await self.refresh()
        self.tasks.append(asyncio.create_task(self._supervise(), name="devices-supervise"))

    async def stop(self) -> None:
        for link in self.links.values():
            if link.task is not None:
                link.task.cancel()
        for task in self.tasks:
            task.cancel()
        pending = [t for t in [*self.tasks, *(link.task for link in self.links.values())] if t is not None]
        await asyncio.gather(*pending, return_exceptions=True)
        if self.running:
            try:
                await asyncio.to_thread(self._write_states)
            except Exception as exc:
                log.warning("device states not written at stop (%s)", exc.__class__.__name__)
        await asyncio.gather(*(client.aclose() for client in self.clients))
        if not self.db.closed:
            await asyncio.to_thread(self.db.close)

    # --- the device list ------------------------------------------------------------------------------

    def _load(self, seen: list[str]) -> tuple[list[dict[str, Any]], dict[str, float]]:
        """The device rows, and the interval of every camera the devices report as: the mapped ones, and `seen`
        (the unmapped `NAME-chN` cameras the running devices have named) — by primary key, not a scan."""
        with self.db.connection(timeout=5) as conn:
            rows = conn.execute(
                "SELECT d.device_id, d.name, d.kind, d.unit_set, d.unit_code, d.url, d.username, d.secret_enc,"
                " d.options, d.push_token_hash, d.updated_at,"
                " coalesce((SELECT jsonb_object_agg(c.channel, c.camera_id) FROM device_channels c"
                "           WHERE c.device_id = d.device_id), '{}') AS channels"
                " FROM devices d"
            ).fetchall()
            cameras = conn.execute(
                "SELECT c.camera_id, c.interval_s FROM cameras c"
                " WHERE c.camera_id = ANY(%s::text[]) OR c.camera_id IN (SELECT camera_id FROM device_channels)",
                (seen,),
            ).fetchall()
        return rows, {r["camera_id"]: float(r["interval_s"]) for r in cameras}

    async def refresh(self) -> None:
        """Bring the running devices in line with the table (start, stop, restart)."""
        assert self.gateway is not None
        try:
            seen = [camera_id_for(link.config, ch) for link in self.links.values() for ch in link.tracker.channels]
            rows, intervals = await asyncio.to_thread(self._load, seen)
        except Exception as exc:
            log.warning("device list not reloaded (%s); keeping the running devices", exc.__class__.__name__)
            return
        self.intervals = intervals
        wanted: dict[int, dict[str, Any]] = {}
        for row in rows:
            if (row["unit_set"], row["unit_code"]) in self.gateway.scope:
                wanted[row["device_id"]] = row
        for device_id in set(self.links) - set(wanted):
            await self._stop_link(self.links.pop(device_id))
        for device_id, row in wanted.items():
            fingerprint = json.dumps(
                [
                    row["kind"],
                    row["url"],
                    row["username"],
                    bytes(row["secret_enc"]).hex(),
                    row["options"],
                    row["channels"],
                    row["push_token_hash"],
                ],
                sort_keys=True,
            )
            link = self.links.get(device_id)
            if link is not None and link.fingerprint == fingerprint:
                continue
            if link is not None:
                await self._stop_link(link)
            try:
                secret = unseal(self.settings, row["secret_enc"])
            except Exception as exc:
                log.error("device %s: its secret cannot be read (%s); not collected", row["name"], exc)
                continue
            config = DeviceConfig.from_row(row, secret)
            self.links[device_id] = self._start_link(config, (row["unit_set"], row["unit_code"]), row, fingerprint)
        self._update_gauges()

    def _start_link(self, config: DeviceConfig, unit: auth.UnitKey, row: dict[str, Any], fingerprint: str) -> _Link:
        link = _Link(
            self,
            config,
            unit,
            row["push_token_hash"],
            fingerprint,
            tracker.DeviceTracker(hold_s=self.settings.device_alarm_hold_s),
        )
        link.tracker.channels.update(config.channels)
        link.state_since = self.clock()
        if link.push_token_hash is not None:
            return link  # it pushes (often from behind NAT, unreachable from here): nothing to connect to
        session, _ = protocol(config.kind)
        link.task = asyncio.create_task(
            run_forever(session, config, self.clients[config.device_id % CLIENT_SHARDS], link, backoff=Backoff()),
            name=f"device-{config.name}",
        )
        return link

    @staticmethod
    async def _stop_link(link: _Link) -> None:
        if link.task is not None:
            link.task.cancel()
            await asyncio.gather(link.task, return_exceptions=True)

    # --- heartbeats ---------------------------------------------------------------------------------

    def intervals_for(self, link: _Link) -> dict[str, float]:
        channels = link.tracker.channels | set(link.config.channels)
        return {ch: self.intervals.get(camera_id_for(link.config, ch), 60.0) for ch in channels}

    async def publish(self, link: _Link, beats: Sequence[tracker.Beat]) -> None:
        assert self.gateway is not None
        items = []
        for beat in beats:
            camera_id = camera_id_for(link.config, beat.channel)
            unit = self.registry.camera_unit(camera_id)
            if not CAMERA_ID.match(camera_id) or (unit is not None and unit not in self.gateway.scope):
                if camera_id not in self._warned_scope:
                    self._warned_scope.add(camera_id)
                    log.warning(
                        "device %s: camera %s is outside this gateway's units; skipped", link.config.name, camera_id
                    )
                continue
            reading = beat.reading
            items.append(
                make_item(
                    camera_id=camera_id,
                    ts=beat.ts,
                    status=reading.status,
                    quality=dict(reading.quality) or None,
                    metrics=dict(reading.metrics) or None,
                )
            )
        if not items:
            return
        records = heartbeat_records(items, Delivery(self.gateway.gateway_id, link.unit[0], link.unit[1], self.clock()))
        try:
            await self.publisher.publish(records)
        except SpoolFull:
            # Kafka has been away long enough to fill the spool: nobody was promised these, and a device cannot
            # be asked to send again. Counted; the cameras read as down for the gap, which is what is known.
            DEVICE_DROPPED.inc(len(items))
            log.warning("device %s: spool full, %d heartbeat(s) dropped", link.config.name, len(items))
            return
        DEVICE_HEARTBEATS.inc(len(items))

    def link_for_token(self, token: str) -> _Link | None:
        digest = auth.hash_token(token)
        return next((lk for lk in self.links.values() if lk.push_token_hash == digest), None)

    # --- the loop around it -----------------------------------------------------------------------

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + REFRESH_S
        await self._keepalive()
        while True:
            await asyncio.sleep(1.0)
            self._judge_pushers()
            if any(link.dirty for link in self.links.values()):
                try:
                    await asyncio.to_thread(self._write_states)
                except Exception as exc:
                    log.warning("device states not written (%s); will retry", exc.__class__.__name__)
            if loop.time() >= next_refresh:
                next_refresh = loop.time() + REFRESH_S
                await self.refresh()
                await self._keepalive()

    def _judge_pushers(self) -> None:
        """A device that pushes is `unreachable` once it has pushed nothing for its `stall_s` (default 120 s):
        configured as the README says, it pushes its heartbeat every 10 s."""
        now = self.clock()
        for link in self.links.values():
            if link.push_token_hash is None or link.state == "unreachable":
                continue
            stall = float(link.config.option("stall_s", PUSH_STALL_S))
            since = link.last_seen or link.state_since
            if since is not None and (now - since).total_seconds() > stall:
                link.failed(Unreachable(f"nothing pushed for more than {stall:g} s"))

    async def _keepalive(self) -> None:
        assert self.gateway is not None
        now = self.clock()
        await self.publisher.publish([keepalive_record(self.gateway.gateway_id, now, now)])

    def _write_states(self) -> None:
        dirty = [link for link in self.links.values() if link.dirty]
        for link in dirty:
            link.dirty, link.seen_written = False, link.last_seen
        self._update_gauges()
        if not dirty:
            return
        with self.db.connection(timeout=5) as conn:
            conn.execute(
                "UPDATE devices d SET state = s.state, state_since = s.since, last_error = s.error,"
                " last_seen_at = greatest(d.last_seen_at, s.seen)"
                " FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::text[], %s::timestamptz[])"
                " AS s(device_id, state, since, error, seen) WHERE d.device_id = s.device_id",
                (
                    [lk.config.device_id for lk in dirty],
                    [lk.state for lk in dirty],
                    [lk.state_since for lk in dirty],
                    [lk.last_error for lk in dirty],
                    [lk.last_seen for lk in dirty],
                ),
            )

    def _update_gauges(self) -> None:
        for state in STATES:
            DEVICES.labels(state).set(sum(1 for link in self.links.values() if link.state == state))
