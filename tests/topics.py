"""Kafka names of this test session. Topics a session makes carry its mark, so that at its end it deletes its
own (tests/conftest.py) and never those of another pytest session using the same broker at the same time."""

from __future__ import annotations

import uuid

SESSION_MARK = uuid.uuid4().hex[:6]


def fresh_prefix() -> str:
    """A Kafka prefix of a test stack's own: `t` + 10 hex digits + `.`, the first six this session's mark."""
    return f"t{SESSION_MARK}{uuid.uuid4().hex[:4]}."


async def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    """A topic of the test's own on the real broker (automatic creation is off, as in the product)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()
