"""Poison messages on the heartbeat topic go to the dead-letter topic with their reason and position, and the
consumer goes on with the messages after them."""

import asyncio
import json
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.core import kafka
from tests.e2e.conftest import T
from tests.e2e.harness import Stack

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def test_poison_messages_are_dead_lettered_and_never_stop_the_consumer(stack: Stack) -> None:
    token = stack.gateway("gw", "15865")
    stack.clock.advance(600)
    topic = kafka.topic(stack.settings, kafka.HEARTBEATS)
    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all")
    await producer.start()
    poison = [
        b"\xff\xfe not utf-8",
        b'{"v": 1, "kind": "heartbeat"}',
        json.dumps(
            {
                "v": 1,
                "kind": "heartbeat",
                "camera_id": "c1",
                "ts": "noon",
                "status": "ok",
                "gateway_id": 1,
                "unit_set": "2024",
                "unit_code": "15865",
                "received_at": T.isoformat(),
            }
        ).encode(),
        b'{"v": 99}',
    ]
    try:
        for value in poison:
            await producer.send_and_wait(topic, value, key=b"c1")
    finally:
        await producer.stop()
    items = [{"camera_id": "c1", "ts": (T + timedelta(seconds=60 * i)).isoformat()} for i in range(5)]
    assert (await stack.push(token, items)).json()["accepted"] == 5
    await stack.settle(5)

    letters = await dead_letters(stack, len(poison))
    assert len(letters) == 4
    assert all(letter["stage"] == "decode" and letter["topic"] == topic for letter in letters)
    assert all(isinstance(letter["offset"], int) and isinstance(letter["partition"], int) for letter in letters)
    reasons = sorted(letter["reason"] for letter in letters)
    assert any(r.startswith("not JSON") for r in reasons)
    assert any(r == "invalid: camera_id: required" for r in reasons)
    assert any(r.startswith("invalid: ts:") for r in reasons)
    assert any(r.startswith("not a heartbeat message of version 1 or 2") for r in reasons)
    assert {letter["payload_encoding"] for letter in letters} == {"utf-8", "base64"}


async def dead_letters(stack: Stack, count: int) -> list[dict]:
    consumer = AIOKafkaConsumer(
        kafka.topic(stack.settings, kafka.HEARTBEATS_DLQ),
        bootstrap_servers=stack.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    letters: list[dict] = []
    try:
        async with asyncio.timeout(30):
            while len(letters) < count:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    letters += [json.loads(m.value) for m in batch]
    finally:
        await consumer.stop()
    return letters


async def test_old_and_new_wire_versions_in_one_topic_are_stored_once_and_a_bad_item_goes_alone(stack: Stack) -> None:
    """An upgrade with version-1 messages still in the topic loses nothing; a version-2 message with one bad item
    stores the others and dead-letters that one, named by its index (issue 19)."""
    stack.gateway("gw", "15865")
    gateway_id = stack.conn.execute("SELECT gateway_id FROM gateways WHERE name = 'gw'").fetchone()["gateway_id"]
    stack.clock.advance(600)
    topic = kafka.topic(stack.settings, kafka.HEARTBEATS)
    delivery = {"gateway_id": gateway_id, "unit_set": "2024", "unit_code": "15865", "received_at": T.isoformat()}

    def at(minute: int) -> str:
        return (T + timedelta(minutes=minute)).isoformat()

    v1 = [  # as the previous version wrote them: one heartbeat a message, keyed by camera
        json.dumps({"v": 1, "kind": "heartbeat", "camera_id": "c1", "ts": at(m), "status": "ok", **delivery}).encode()
        for m in range(5)
    ]
    items = [{"camera_id": "c2", "ts": at(m), "status": "ok"} for m in range(5)]
    items.insert(2, {"camera_id": "c2", "ts": "noon", "status": "ok"})
    items.append({"camera_id": "c1", "ts": at(3), "status": "ok"})  # c1 at 3 min again, now in version 2
    v2 = json.dumps({"v": 2, "kind": "heartbeats", **delivery, "items": items}).encode()
    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for value in v1:
            await producer.send_and_wait(topic, value, key=b"c1")
        await producer.send_and_wait(topic, v2, key=f"gateway:{gateway_id}".encode())
    finally:
        await producer.stop()
    await stack.settle(10)
    per_camera = stack.conn.execute("SELECT camera_id, count(*) AS n FROM heartbeats GROUP BY 1 ORDER BY 1")
    assert {r["camera_id"]: r["n"] for r in per_camera} == {"c1": 5, "c2": 5}
    (letter,) = await dead_letters(stack, 1)
    assert letter["stage"] == "decode" and letter["reason"].startswith("items[2]: invalid: ts:")
    assert json.loads(letter["payload"])["items"][2]["ts"] == "noon"
