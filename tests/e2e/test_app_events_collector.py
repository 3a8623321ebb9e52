"""The app-events collector on a real HTTP server and the real broker (SPEC §7): statuses, per-event reasons,
and privacy — no raw user_id, install_id or client address in anything written to Kafka."""

import asyncio
import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from app_events.app import create_app
from app_events.validation import pseudonym
from services.core import accounts, kafka, serve
from tests.e2e.harness import free_port, until
from tests.topics import fresh_prefix

pytestmark = [pytest.mark.db, pytest.mark.kafka]
KEY = "test-pseudonym-key-0123456789"
NOW = datetime(2024, 3, 27, 0, 0, 5, tzinfo=UTC)


def body(install: str, events: list[dict]) -> dict:
    return {
        "sent_at": "2024-03-27T07:00:05+07:00",
        "context": {"install_id": install, "platform": "android", "app_version": "2.3.1", "locale": "vi-VN"},
        "events": events,
    }


def ev(**kw) -> dict:
    e = {
        "event_id": str(uuid.uuid4()),
        "event": "app_open",
        "created_at": "2024-03-27T06:59:10+07:00",
        "unit_code": "15865",
    }
    e.update(kw)
    return e


async def read_all(settings, name: str, expected: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        kafka.topic(settings, name),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(values) < expected:
                for part in (await consumer.getmany(timeout_ms=500)).values():
                    values += [m.value for m in part]
    finally:
        await consumer.stop()
    return values


async def test_the_collector_checks_limits_and_pseudonymizes(settings, conn) -> None:
    s = settings.model_copy(
        update={
            "kafka_prefix": fresh_prefix(),
            "pseudonym_key": SecretStr(KEY),
            "app_events_rate_per_minute": 5,
        }
    )
    await kafka.ensure_topics(s)
    app_key = accounts.create_app(conn, name="HoangHoaS Android")
    port = free_port()
    server = serve.server(create_app(s, clock=lambda: NOW), "127.0.0.1", port, "warning")
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started, what="collector started")
    url = f"http://127.0.0.1:{port}/v1/events"
    install = str(uuid.uuid4())
    headers = {"X-App-Key": app_key}
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.post(url, json=body(install, [ev()]))).status_code == 401
            assert (
                await http.post(url, json=body(install, [ev()]), headers={"X-App-Key": "pak_wrong"})
            ).status_code == 401
            bad = await http.post(url, json={"events": []}, headers=headers)
            assert bad.status_code == 400 and bad.json()["detail"].startswith("context:")
            events = [
                ev(user_id="citizen-0912345678", event="feedback_submitted", properties={"category": "road_damage"}),
                ev(event="feedback_submitted", properties={"category": "potholes"}),  # 1: bad property
                ev(created_at="2024-03-18T07:00:00+07:00"),  # 2: 8 days old
                ev(),  # anonymous: the install is the subject
            ]
            gz = gzip.compress(json.dumps(body(install, events)).encode())
            answer = await http.post(
                url, content=gz, headers={**headers, "Content-Encoding": "gzip", "Content-Type": "application/json"}
            )
            assert answer.status_code == 200, answer.text
            reply = answer.json()
            assert reply["accepted"] == 2
            assert [(r["index"], r["reason"].split(":")[0]) for r in reply["rejected"]] == [
                (1, "invalid"),
                (2, "too_late"),
            ]
            big = json.dumps(body(install, [ev(properties={"x": "y" * 1900, f"k{i}": 1}) for i in range(600)]))
            assert (
                await http.post(url, content=big, headers={**headers, "Content-Type": "application/json"})
            ).status_code == 413
            statuses = [
                (await http.post(url, json=body(install, [ev()]), headers=headers)).status_code for _ in range(6)
            ]
            assert statuses[-1] == 429 and 200 in statuses
    finally:
        server.should_exit = True
        await task
    written = await read_all(s, kafka.APP_EVENTS, 2)
    letters = await read_all(s, kafka.APP_EVENTS_DLQ, 2)
    everything = b"\n".join(written + letters)
    for secret in (b"citizen-0912345678", install.encode(), b"127.0.0.1"):
        assert secret not in everything
    subjects = {json.loads(v)["subject"] for v in written}
    assert subjects >= {pseudonym(KEY.encode(), "citizen-0912345678"), pseudonym(KEY.encode(), install)}
    first = json.loads(written[0])
    assert len(first["events"]) == 1  # one message per subject and request
    # the phone's clock said 07:00:05 when sending an event made at 06:59:10: 55 s before it was received
    assert datetime.fromisoformat(first["events"][0]["event_time"]) == NOW - timedelta(seconds=55)
    assert {json.loads(v)["reason"].split(":")[0] for v in letters} == {"invalid", "too_late"}


async def test_a_client_making_up_install_ids_is_limited_by_its_address(settings, conn) -> None:
    """The per-install limit trusts the client's install id; a forged client sends a new one each time. The
    per-address limit holds it anyway (issue 31)."""
    s = settings.model_copy(
        update={
            "kafka_prefix": fresh_prefix(),
            "pseudonym_key": SecretStr(KEY),
            "app_events_rate_per_minute": 5,
            "app_events_rate_per_address_per_minute": 8,
        }
    )
    await kafka.ensure_topics(s)
    headers = {"X-App-Key": accounts.create_app(conn, name="HoangHoaS Android")}
    port = free_port()
    server = serve.server(create_app(s, clock=lambda: NOW), "127.0.0.1", port, "warning")
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started, what="collector started")
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            answers = [
                await http.post(
                    f"http://127.0.0.1:{port}/v1/events", json=body(str(uuid.uuid4()), [ev()]), headers=headers
                )
                for _ in range(9)
            ]
    finally:
        server.should_exit = True
        await task
    assert [a.status_code for a in answers] == [200] * 8 + [429]
    assert answers[-1].json()["detail"] == "more than 8 requests a minute from this address"
    assert answers[-1].headers["Retry-After"]
