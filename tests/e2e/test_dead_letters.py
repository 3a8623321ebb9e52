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

    consumer = AIOKafkaConsumer(
        kafka.topic(stack.settings, kafka.HEARTBEATS_DLQ),
        bootstrap_servers=stack.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    letters = []
    try:
        async with asyncio.timeout(30):
            while len(letters) < len(poison):
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    letters += [json.loads(m.value) for m in batch]
    finally:
        await consumer.stop()
    assert len(letters) == 4
    assert all(letter["stage"] == "decode" and letter["topic"] == topic for letter in letters)
    assert all(isinstance(letter["offset"], int) and isinstance(letter["partition"], int) for letter in letters)
    reasons = sorted(letter["reason"] for letter in letters)
    assert any(r.startswith("not JSON") for r in reasons)
    assert any(r.startswith("missing field") for r in reasons)
    assert any(r.startswith("invalid: ts:") for r in reasons)
    assert any(r.startswith("not a version-1 message") for r in reasons)
    assert {letter["payload_encoding"] for letter in letters} == {"utf-8", "base64"}
