import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from services.core.kafka import ALL_TOPICS, ensure_topics
from services.core.settings import Settings
from tests.topics import create_topic

pytestmark = pytest.mark.kafka


async def test_a_message_produced_with_aiokafka_is_consumed_back(base_settings: Settings, topic_name: str) -> None:
    await create_topic(base_settings.kafka_bootstrap, topic_name)
    producer = AIOKafkaProducer(bootstrap_servers=base_settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic_name, key=b"cam-1", value="xin chào, Hoằng Hóa".encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic_name,
        bootstrap_servers=base_settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{topic_name}.group",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert message.key == b"cam-1"
    assert message.value.decode() == "xin chào, Hoằng Hóa"


async def test_the_product_topics_are_created_once(base_settings: Settings) -> None:
    await ensure_topics(base_settings)
    assert await ensure_topics(base_settings) == []
    admin = AIOKafkaAdminClient(bootstrap_servers=base_settings.kafka_bootstrap)
    await admin.start()
    try:
        assert set(ALL_TOPICS) <= set(await admin.list_topics())
    finally:
        await admin.close()
