"""The Kafka topics of commune-pulse and the few broker operations every component shares.

Topics (SPEC §4, §7): `camera.heartbeats` (key camera_id), `app.events` (key subject), and a dead-letter topic
beside each. Components create them at start if missing (`ensure_topics`), so a fresh broker just works; the
broker itself has auto-creation off, so a typo in a topic name fails loudly instead of creating a new topic.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from services.core.settings import Settings

HEARTBEATS = "camera.heartbeats"
HEARTBEATS_DLQ = "camera.heartbeats.dlq"
APP_EVENTS = "app.events"
APP_EVENTS_DLQ = "app.events.dlq"
ALL_TOPICS = (HEARTBEATS, HEARTBEATS_DLQ, APP_EVENTS, APP_EVENTS_DLQ)


def min_insync_replicas(replicas: int) -> int:
    """Replicas that must have a message before it is acknowledged (producers use acks=all): all but one, so one
    broker may be lost without losing an acknowledged message or refusing writes (3 replicas: 2)."""
    return max(1, replicas - 1)


def topic(settings: Settings, name: str) -> str:
    """The deployment's name for a topic or consumer group (`PULSE_KAFKA_PREFIX` + name)."""
    return settings.kafka_prefix + name


async def ensure_topics(settings: Settings, names: tuple[str, ...] = ALL_TOPICS) -> list[str]:
    """Create the product's topics that do not exist yet; returns the ones created (prefixed)."""
    topics = [topic(settings, n) for n in names]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            replicas = settings.kafka_replication
            new = [
                NewTopic(
                    t,
                    num_partitions=settings.kafka_partitions,
                    replication_factor=replicas,
                    topic_configs={"min.insync.replicas": str(min_insync_replicas(replicas))},
                )
                for t in missing
            ]
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another component created them at the same moment
        return missing
    finally:
        await admin.close()


async def broker_reachable(settings: Settings, timeout_ms: int = 2000) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=timeout_ms)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()
