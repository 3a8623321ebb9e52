"""The consumer loop's batches against a real broker: bounded by bytes even when the client already holds far
more than a batch (it fetches ahead), and every message taken exactly once, in order."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.core.settings import Settings
from services.ingest.consumer import Pipeline, _next_batch
from tests.topics import create_topic

pytestmark = pytest.mark.kafka
MESSAGE = 10_000  # bytes
MESSAGES = 300


async def test_a_batch_stops_at_its_byte_bound_though_the_client_holds_more(
    base_settings: Settings, topic_name
) -> None:
    await create_topic(base_settings.kafka_bootstrap, topic_name)
    producer = AIOKafkaProducer(bootstrap_servers=base_settings.kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(topic_name, i.to_bytes(4, "big") * (MESSAGE // 4)) for i in range(MESSAGES)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    pipeline: Pipeline[bytes] = Pipeline(
        topic=topic_name,
        dlq_topic=f"{topic_name}.dlq",
        group_id=f"{topic_name}.group",
        decode=lambda v: v or b"",
        write=lambda conn, items: len(items),
        batch_max=20_000,
        batch_max_bytes=40 * MESSAGE,
        batch_wait_s=5,
    )
    consumer = AIOKafkaConsumer(
        topic_name,
        bootstrap_servers=base_settings.kafka_bootstrap,
        group_id=pipeline.group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_bytes=64 << 20,
        max_partition_fetch_bytes=16 << 20,  # the whole topic in one fetch, as ingest configures it
    )
    await consumer.start()
    stop = asyncio.Event()
    try:
        batches = []
        while sum(len(b) for b in batches) < MESSAGES:
            batch, _ = await _next_batch(consumer, pipeline, stop)
            assert batch, "the topic ran dry before every message was taken"
            batches.append(batch)
    finally:
        await consumer.stop()
    sizes = [sum(len(r.value) for r in batch) for batch in batches]
    # Each batch reaches the bound with at most one message to spare: not the whole topic the client fetched.
    assert all(size <= pipeline.batch_max_bytes + MESSAGE for size in sizes), sizes
    assert len(batches) >= MESSAGES * MESSAGE // (pipeline.batch_max_bytes + MESSAGE)
    taken = [int.from_bytes(r.value[:4], "big") for batch in batches for r in batch]
    assert taken == list(range(MESSAGES))
