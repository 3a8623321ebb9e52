"""The Kafka topics of commune-pulse and the few broker operations every component shares.

Topics (SPEC §4, §7): `camera.heartbeats` (key camera_id), `app.events` (key subject), and a dead-letter topic
beside each. Components create them at start if missing (`ensure_topics`), so a fresh broker just works; the
broker itself has auto-creation off, so a typo in a topic name fails loudly instead of creating a new topic.
"""

from __future__ import annotations

from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from services.core.settings import Settings

HEARTBEATS = "camera.heartbeats"
HEARTBEATS_DLQ = "camera.heartbeats.dlq"
APP_EVENTS = "app.events"
APP_EVENTS_DLQ = "app.events.dlq"
ALL_TOPICS = (HEARTBEATS, HEARTBEATS_DLQ, APP_EVENTS, APP_EVENTS_DLQ)


def client_options(settings: Settings) -> dict[str, Any]:
    """What every Kafka client of the product is given to reach the brokers: their addresses and, as the settings
    say, TLS (the broker's certificate checked against PULSE_KAFKA_SSL_CAFILE, or the system's CAs, and its host
    name) and a SASL login."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol != "PLAINTEXT":
        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        options["ssl_context"] = create_ssl_context(cafile=cafile)
    if settings.kafka_security_protocol == "SASL_SSL":
        assert settings.kafka_sasl_password is not None  # the settings refuse SASL_SSL without a login
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password.get_secret_value(),
        }
    return options


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
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=10_000)
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
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=timeout_ms)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()
