"""App events through the real path: collector (HTTP) → Kafka → ingest → TimescaleDB → API (SPEC §7, §8, §10).

The test states, event by event, what the product must make of it — which local day, which commune, whether it
counts — and computes the figures from that list with plain sets; the API's answer must be the same. Then it
reads every table and every Kafka record and finds no raw citizen id, install id or client address.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from app_events.validation import pseudonym
from services.core import kafka
from tests.e2e.chaos import component_env
from tests.e2e.harness import DISTRICT_EVENTS, Stack, start_stack, until
from tests.processes import pulse_command

pytestmark = [pytest.mark.db, pytest.mark.kafka]
KEY = "e2e-pseudonym-key-for-tests-only"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
GIANG, XUAN, PHUONG, BUT_SON = "15871", "15877", "15880", "15865"
TO_2025 = {GIANG: "15880", XUAN: "15880", PHUONG: "15880", BUT_SON: "15865"}
USER_1, USER_3 = "citizen-0001", "citizen-0003"
INSTALL_1, INSTALL_2, INSTALL_3 = (str(uuid.UUID(int=i)) for i in (101, 102, 103))


def local(day: int, hour: int, minute: int = 0, *, month: int = 3) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=TZ)


def envelope(install: str, sent_at: datetime, events: list[dict]) -> dict:
    return {
        "sent_at": sent_at.isoformat(),
        "context": {"install_id": install, "platform": "android", "app_version": "2.3.1", "locale": "vi-VN"},
        "events": events,
    }


def event(name: str, created_at: datetime, unit: str | None, user: str | None = None, **properties) -> dict:
    e = {"event_id": str(uuid.uuid4()), "event": name, "created_at": created_at.isoformat(), "properties": properties}
    if unit is not None:
        e["unit_code"] = unit
    if user is not None:
        e["user_id"] = user
    return e


@dataclass(frozen=True)
class Expect:
    """What one accepted event must become: its subject, commune, local day, and whether it counts."""

    subject: str
    unit: str
    day: date
    foreground: bool = True
    feedback: bool = False


def figures(expects: list[Expect], view: str, month: int, today: date) -> tuple[dict[str, dict], dict]:
    """§8 read independently: per unit of the view and for the district, from the expected events. The mean DAU
    of the running month is over the days that have begun (today included)."""
    first, end = date(2024, month, 1), date(2024, month + 1, 1)
    days_so_far = (min(end, today + timedelta(days=1)) - first).days

    def of(selected: list[Expect]) -> dict:
        active = [e for e in selected if e.foreground]
        in_month = {e.subject for e in active if first <= e.day < end}
        before = {e.subject for e in active if e.day < first}
        days = {(e.subject, e.day) for e in active if first <= e.day < end}
        return {
            "mau": len(in_month),
            "new": len(in_month - before),
            "returning": len(in_month & before),
            "dau_avg": len(days) / days_so_far,
            "feedback_submitted": sum(1 for e in selected if e.feedback and first <= e.day < end),
        }

    code = (lambda e: e.unit) if view == "2024" else (lambda e: TO_2025[e.unit])
    per_unit = {c: of([e for e in expects if code(e) == c]) for c in {code(e) for e in expects}}
    return per_unit, of(expects)


async def scenario(stack: Stack, clock) -> list[Expect]:
    s1, s2, s3 = pseudonym(KEY.encode(), USER_1), pseudonym(KEY.encode(), INSTALL_2), pseudonym(KEY.encode(), USER_3)
    expects: list[Expect] = []
    clock.now = local(31, 23)  # 23:00 on 31 March, local time

    # Citizen 1 uses the app in two communes, and sends feedback; one event of the batch is malformed.
    batch = envelope(
        INSTALL_1,
        local(31, 23),
        [
            event("app_open", local(31, 22, 50), GIANG, USER_1),
            event("feedback_submitted", local(31, 22, 55), BUT_SON, USER_1, category="road_damage"),
            event("Not An Event", local(31, 22, 56), GIANG, USER_1),
            event("feedback_submitted", local(31, 22, 57), BUT_SON, USER_1, category="not-a-category"),
        ],
    )
    reply = (await stack.send_events(batch)).json()
    assert reply["accepted"] == 2
    assert [r["index"] for r in reply["rejected"]] == [2, 3]
    expects += [Expect(s1, GIANG, date(2024, 3, 31)), Expect(s1, BUT_SON, date(2024, 3, 31), feedback=True)]

    # The app did not hear the reply and sends the same events again, 30 s later: stored once.
    clock.advance(30)
    batch["sent_at"] = (local(31, 23) + timedelta(seconds=30)).isoformat()
    assert (await stack.send_events(batch)).json()["accepted"] == 2

    # An anonymous install whose clock is two hours fast: it says 00:58 on 1 April, it is 22:58 on 31 March.
    fast = timedelta(hours=2)
    reply = (
        await stack.send_events(
            envelope(INSTALL_2, clock.now + fast, [event("screen_view", local(31, 22, 58) + fast, XUAN, screen="home")])
        )
    ).json()
    assert reply == {"accepted": 1, "rejected": []}
    expects.append(Expect(s2, XUAN, date(2024, 3, 31)))

    # Citizen 3 only receives a push (background: not active), and an event from 8 days ago is refused.
    reply = (
        await stack.send_events(
            envelope(
                INSTALL_3,
                clock.now,
                [
                    event("push_received", local(31, 22), PHUONG, USER_3),
                    event("app_open", local(23, 22), PHUONG, USER_3),
                ],
            )
        )
    ).json()
    assert reply["accepted"] == 1 and reply["rejected"][0]["reason"].startswith("too_late")
    expects.append(Expect(s3, PHUONG, date(2024, 3, 31), foreground=False))

    # Past midnight: citizen 1 opens the app on 1 April, and the offline queue delivers a 23:59 event of March.
    clock.now = local(1, 0, 10, month=4)
    reply = (
        await stack.send_events(
            envelope(
                INSTALL_1,
                clock.now,
                [
                    event("app_open", local(1, 0, 5, month=4), GIANG, USER_1),
                    event("news_read", local(31, 23, 59), GIANG, USER_1, article_id="a1"),
                ],
            )
        )
    ).json()
    assert reply["accepted"] == 2
    expects += [Expect(s1, GIANG, date(2024, 4, 1)), Expect(s1, GIANG, date(2024, 3, 31))]
    return expects


async def test_engagement_through_the_real_path_matches_an_independent_count(settings, conn, tmp_path, clock):
    stack = await start_stack(settings, conn, tmp_path, clock, pseudonym_key=SecretStr(KEY))
    try:
        expects = await scenario(stack, clock)
        await until(lambda: stack.count("SELECT count(*) AS n FROM app_events") == len(expects), what="events stored")
        for view in ("2024", "2025"):
            for month in (3, 4):
                answer = await stack.api("/api/v1/engagement", month=f"2024-{month:02d}", unit_set=view)
                per_unit, district = figures(expects, view, month, today=date(2024, 4, 1))
                got = {i["unit_code"]: i for i in answer["items"]}
                for code, want in per_unit.items():
                    assert {k: got[code][k] for k in want} == want, (view, month, code)
                assert {k: answer["district"][k] for k in district} == district, (view, month)
                others = set(got) - set(per_unit)
                assert all(got[c]["mau"] == 0 for c in others)
        march = await stack.api("/api/v1/engagement", month="2024-03", unit_set="2024")
        # District MAU (citizen 1 and the anonymous install) is less than the sum of the communes' MAUs.
        assert march["district"]["mau"] == 2
        assert sum(i["mau"] for i in march["items"]) == 3
        units = {u["unit_code"]: u for u in (await stack.api("/api/v1/units", unit_set="2024"))["items"]}
        assert units[GIANG]["mau_month"] == 1  # "this month" is April now: citizen 1 only
        daily = await stack.api("/api/v1/engagement/daily", **{"from": "2024-03-30", "to": "2024-04-02"})
        assert [i["dau"] for i in daily["items"]] == [0, 2, 1]
        await check_no_raw_ids(stack)
        await check_dead_letters_are_pseudonymized(stack)
    finally:
        await stack.close()


RAW = (USER_1, USER_3, INSTALL_1, INSTALL_2, INSTALL_3, "127.0.0.1")


async def check_no_raw_ids(stack: Stack) -> None:
    """Every row of every table, and every record of every topic, read as text: no raw id, no address."""
    db = stack.db()
    tables = [
        r["t"]
        for r in db.execute(
            "SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname = 'public'"
        )
    ]
    assert "public.app_events" in tables
    for table in tables:
        for row in db.execute(f"SELECT t::text AS row FROM {table} t"):  # table names from pg_tables
            assert not any(raw in row["row"] for raw in RAW), (table, row["row"])
    for name in (kafka.APP_EVENTS, kafka.APP_EVENTS_DLQ):
        for value in await read_topic(stack, name):
            assert not any(raw.encode() in value for raw in RAW), (name, value)


async def check_dead_letters_are_pseudonymized(stack: Stack) -> None:
    values = await read_topic(stack, kafka.APP_EVENTS_DLQ)
    assert len(values) == 5  # two malformed events (sent twice) and the late one
    assert all(pseudonym(KEY.encode(), USER_1).encode() in v or b"too_late" in v for v in values)


async def read_topic(stack: Stack, name: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        kafka.topic(stack.settings, name),
        bootstrap_servers=stack.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            if not batch:
                return values
            for part in batch.values():
                values += [m.value for m in part]
    finally:
        await consumer.stop()


async def test_ingest_killed_mid_stream_and_restarted_counts_every_event_once(settings, conn, tmp_path, clock):
    stack = await start_stack(settings, conn, tmp_path, clock, ingest=False, pseudonym_key=SecretStr(KEY))
    # messages of 20 events: 22 batches, so the kill lands mid-stream
    env = component_env(stack.settings, PULSE_INGEST_BATCH_MAX="20")
    command = pulse_command("ingest")
    clock.now = local(31, 12)
    codes = [GIANG, XUAN, PHUONG, BUT_SON]
    users = [f"citizen-{i:04d}" for i in range(400)]
    try:
        batches = []
        for i, user in enumerate(users):  # 400 citizens, 20 events each over the morning, 8,000 events
            events = [event("screen_view", local(31, 8, m), codes[i % 4], user, screen="home") for m in range(20)]
            batches.append(envelope(str(uuid.UUID(int=1000 + i)), clock.now, events))
        for b in batches:
            assert (await stack.send_events(b)).json()["accepted"] == 20
        for b in batches[::10]:  # the app retries a tenth of them: duplicates
            assert (await stack.send_events(b)).json()["accepted"] == 20
        total = 20 * len(users)
        log = tmp_path / "ingest.log"
        with log.open("ab") as out:
            first = await asyncio.create_subprocess_exec(*command, env=env, stdout=out, stderr=out)
            stored = lambda: stack.count("SELECT count(*) AS n FROM app_events")  # noqa: E731
            await until(lambda: stored() >= 600, timeout=60, what="ingest to store a few batches")
            first.send_signal(signal.SIGKILL)
            await asyncio.wait_for(first.wait(), 30)
            assert 0 < stored() < total, "the kill should land while the stream is being ingested"
            second = await asyncio.create_subprocess_exec(*command, env=env, stdout=out, stderr=out)
            try:
                await until(lambda: stored() == total, timeout=120, what="every event stored")
                await asyncio.sleep(1)  # ok: nothing more may arrive; any duplicate would show now
            finally:
                second.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(second.wait(), 60)
        assert code == 0, log.read_text()
        assert stored() == total
        march = await stack.api("/api/v1/engagement", month="2024-03", unit_set="2024")
        got = {i["unit_code"]: i["mau"] for i in march["items"] if i["mau"]}
        assert got == {c: 100 for c in codes}
        assert march["district"]["mau"] == 400
        assert stack.count(DISTRICT_EVENTS) == total
    finally:
        await stack.close()
