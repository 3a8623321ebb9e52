"""`--backfill DAYS`: the simulated district's history, so the dashboard and the monthly report have figures to
show from the start (issue 9).

History goes the real path from Kafka on: the messages are what the commune gateways and the collector would
have written — built by the same functions, with the same pseudonyms and checks — produced to the same topics,
and ingest stores them like live data. They skip the HTTP front doors only because both refuse data older than
7 days (SPEC §4, §7): history is an operator's import, not a late client.

Citizens first, every day of DAYS, oldest first (about 170,000 events a simulated day: minutes for months).
Cameras then, newest day first, for `camera_days` days: 5,000 cameras beating every minute are 7.2 million
heartbeats a day, which ingest stores at about 40,000 a second on 2 cores (docs/benchmarks.md) — some minutes
per day — so camera history is kept short by default and fills in while the demo runs. Finished days are
recorded in `PULSE_DATA_DIR/simulator-backfill.json`, so a restart continues instead of writing them again
(app events are deduplicated for 10 days only).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer

from app_events.messages import event_record, subject_message, subject_partition
from app_events.validation import CheckedEvent, check_event, pseudonym
from services.core import accounts, auth, kafka
from services.core.db import connect
from services.core.heartbeats import CHUNK, Delivery, WireItem, make_item, message_key, to_messages
from services.core.settings import Settings
from services.demo.world import World, beat_times, citizen_ids

log = logging.getLogger(__name__)
FLUSH_EVERY = 5000  # messages in flight before waiting for the broker's acknowledgements
FLUSH_EVERY_CHUNKS = 40  # heartbeat messages (of up to CHUNK heartbeats each) in flight, likewise


@dataclass(frozen=True)
class Window:
    day: date
    start: datetime
    end: datetime


def windows(until: datetime, days: int, tz) -> list[Window]:
    """Today up to `until`, then the `days` whole local days before it; newest first. Each window's beats are
    those in (start, end], as the live simulator's ticks after `until`."""
    today = until.astimezone(tz).date()
    out = [Window(today, datetime.combine(today, time(0), tzinfo=tz), until)]
    for k in range(1, days + 1):
        day = today - timedelta(days=k)
        out.append(
            Window(
                day,
                datetime.combine(day, time(0), tzinfo=tz),
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz),
            )
        )
    return out


@dataclass
class Backfill:
    settings: Settings
    world: World
    gateway_tokens: dict[str, str]  # unit code → token (the simulator's commune gateways)
    app_key: str
    until: datetime  # where the live simulation starts
    days: int
    camera_days: int

    @property
    def state_file(self) -> Path:
        return Path(self.settings.data_dir) / "simulator-backfill.json"

    def _done(self) -> dict[str, list[str]]:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return {"citizens": [], "cameras": []}

    def _mark(self, done: dict[str, list[str]], kind: str, window: Window) -> None:
        if window.end.astimezone(self.settings.tz).time() == time(0):  # only whole days are final
            done[kind].append(window.day.isoformat())
            self.state_file.write_text(json.dumps(done))

    async def run(self, stop: asyncio.Event) -> dict[str, int]:
        """Write what is not written yet; returns how many events and heartbeats this run sent."""
        done = self._done()
        sent = {"events": 0, "heartbeats": 0}
        with connect(self.settings, autocommit=True) as conn:
            gateway_ids = {}
            for code, token in self.gateway_tokens.items():
                gateway = accounts.gateway_for_token(conn, token)
                if gateway is not None:
                    gateway_ids[code] = gateway.gateway_id
            row = conn.execute(
                "SELECT app_id FROM apps WHERE key_hash = %s", (auth.hash_token(self.app_key),)
            ).fetchone()
        app_id = row["app_id"] if row else None
        producer = AIOKafkaProducer(
            **kafka.client_options(self.settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            compression_type="lz4",
        )
        await producer.start()
        try:
            tz = self.settings.tz
            oldest_first = list(reversed(windows(self.until, self.days, tz)))
            for window in oldest_first:
                if stop.is_set():
                    return sent
                if window.day.isoformat() in done["citizens"]:
                    continue
                events = await self._citizens(producer, window, app_id)
                sent["events"] += events
                self._mark(done, "citizens", window)
                log.info("backfill: citizens of %s written (%d events)", window.day, events)
            for window in windows(self.until, self.camera_days, tz):
                if stop.is_set():
                    return sent
                if window.day.isoformat() in done["cameras"]:
                    continue
                beats = await self._cameras(producer, window, gateway_ids, stop)
                sent["heartbeats"] += beats
                self._mark(done, "cameras", window)
                log.info("backfill: cameras of %s written (%d heartbeats)", window.day, beats)
        finally:
            await producer.stop()
        return sent

    async def _citizens(self, producer: AIOKafkaProducer, window: Window, app_id: int | None) -> int:
        assert self.settings.pseudonym_key is not None, "the demo sets a pseudonym key"
        key = self.settings.pseudonym_key.get_secret_value().encode()
        topic = kafka.topic(self.settings, "app.events")
        partitions = sorted(await producer.partitions_for(topic))
        day_index = (window.day - self.until.astimezone(self.settings.tz).date()).days  # ≤ 0: before the start
        context = {
            "app_id": app_id,
            "platform": "android",
            "app_version": "3.1.0",
            "os_version": None,
            "locale": "vi-VN",
        }
        pending, sent = [], 0
        hour = window.start
        while hour < window.end:
            span = min(hour + timedelta(hours=1), window.end) - hour
            rate = self.world.sessions_per_second(hour + span / 2, self.settings.tz, day_index)
            count = round(rate * span.total_seconds())
            for n in range(count):
                at = hour + span * ((n + 0.5) / count)
                citizen, unit_code, events = self.world.session(at, n, day_index)
                user_id, install_id = citizen_ids(citizen)
                install_subject, subject = pseudonym(key, install_id), pseudonym(key, user_id)
                records = []
                for i, (name, props) in enumerate(events):
                    created = at + timedelta(seconds=5 * i)
                    raw = {
                        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"pulse-backfill/{at.timestamp()}/{n}/{i}")),
                        "event": name,
                        "created_at": created.isoformat(),
                        "user_id": user_id,
                        "unit_code": unit_code,
                        "properties": props,
                    }
                    checked = check_event(raw)
                    assert isinstance(checked, CheckedEvent), checked
                    records.append(event_record(checked, created))
                value = subject_message(
                    subject=subject,
                    install_subject=install_subject,
                    unit_set="2024",
                    received_at=at + timedelta(seconds=5 * len(events)),
                    context=context,
                    events=records,
                )
                k = subject.encode()
                pending.append(await producer.send(topic, value, key=k, partition=subject_partition(k, partitions)))
                sent += len(records)
                if len(pending) >= FLUSH_EVERY:
                    await asyncio.gather(*pending)
                    pending = []
            hour += span
        await asyncio.gather(*pending)
        return sent

    async def _cameras(
        self, producer: AIOKafkaProducer, window: Window, gateway_ids: dict[str, int], stop: asyncio.Event
    ) -> int:
        topic = kafka.topic(self.settings, "camera.heartbeats")
        interval = self.world.config.interval_s
        pending, sent = [], 0
        for cam in self.world.cameras:
            if stop.is_set():
                break
            gateway_id = gateway_ids.get(cam.unit_code)
            if gateway_id is None:
                continue
            items: list[WireItem] = []
            times = beat_times(self.world.beat_offset(cam), interval, window.start, window.end)
            for ts in [*times, None]:  # None: the end, send what is left
                fields = self.world.heartbeat(cam, ts) if ts is not None else None
                if fields is not None:
                    items.append(make_item(camera_id=cam.camera_id, ts=ts, **fields))
                if items and (len(items) == CHUNK or ts is None):
                    # as its gateway would have sent them: a chunk at a time, received when the last was taken
                    delivery = Delivery(gateway_id, "2024", cam.unit_code, received_at=items[-1].ts)
                    for value in to_messages(items, delivery):
                        pending.append(await producer.send(topic, value, key=message_key(gateway_id)))
                    sent += len(items)
                    items = []
                if len(pending) >= FLUSH_EVERY_CHUNKS:
                    await asyncio.gather(*pending)
                    pending = []
        await asyncio.gather(*pending)
        return sent
