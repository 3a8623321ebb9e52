"""The reference app client against the real collector, Kafka and ingest: the offline queue keeps events while the
collector is unreachable, and a batch sent twice (the reply was lost) is stored once."""

import asyncio
import uuid

import pytest
from pydantic import SecretStr

from app_events.client import EventClient
from services.core.failover import Endpoints
from services.infra.kafka import Kafka
from tests.e2e.harness import DISTRICT_EVENTS, free_port, start_stack, until

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def test_offline_queue_retries_and_duplicates(settings, conn, tmp_path, clock) -> None:
    stack = await start_stack(settings, conn, tmp_path, clock, pseudonym_key=SecretStr("client-test-key-0123456789"))
    client = EventClient(
        f"http://127.0.0.1:{free_port()}",  # nobody listens here: the phone is offline
        stack.app_key,
        tmp_path / "queue.sqlite",
        install_id=str(uuid.uuid4()),
        clock=clock,
    )
    try:
        client.track("app_open", unit_code="15865", user_id="citizen-1")
        client.track("feedback_submitted", unit_code="15865", user_id="citizen-1", category="lighting")
        client.track("feedback_submitted", unit_code="15865", category="no-such-category")
        offline = await client.flush()
        assert offline.sent == 0 and offline.retry_after_s and client.pending() == 3

        client.collectors = Endpoints(stack.collector_url)  # back online
        queued = client.db.execute("SELECT event FROM queue ORDER BY seq").fetchall()
        result = await client.flush_all()
        assert (result.sent, result.accepted, client.pending()) == (3, 2, 0)
        assert [r["index"] for r in result.rejected] == [2]
        assert "properties.category" in result.rejected[0]["reason"]

        # The app crashed before it noted the reply: the same events go again, with their ids.
        client.db.executemany("INSERT INTO queue (event) VALUES (?)", queued)
        again = await client.flush_all()
        assert (again.accepted, client.pending()) == (2, 0)
        # A last event of the same citizen (same subject, same partition) is consumed after the duplicates.
        client.track("news_read", unit_code="15865", user_id="citizen-1", article_id="a1")
        assert (await client.flush_all()).accepted == 1
        await until(lambda: stack.count("SELECT count(*) AS n FROM app_events") == 3, what="events stored")
        assert stack.count(DISTRICT_EVENTS) == 3
    finally:
        await client.close()
        await stack.close()


async def test_kafka_away_gives_503_and_the_queue_delivers_when_it_returns(
    settings, base_settings, conn, tmp_path, clock
) -> None:
    stack = await start_stack(settings, conn, tmp_path, clock, pseudonym_key=SecretStr("client-test-key-0123456789"))
    client = EventClient(
        stack.collector_url, stack.app_key, tmp_path / "q.sqlite", install_id=str(uuid.uuid4()), clock=clock
    )
    kafka = Kafka(base_settings)
    try:
        await asyncio.to_thread(kafka.stop)
        for i in range(3):
            client.track("news_read", unit_code="15871", user_id="citizen-2", article_id=f"a{i}")
        raw = await stack.http.post(
            f"{stack.collector_url}/v1/events",
            headers={"X-App-Key": stack.app_key},
            json={
                "sent_at": clock.now.isoformat(),
                "context": {"install_id": str(uuid.uuid4()), "platform": "ios", "app_version": "1.0"},
                "events": [{"event_id": str(uuid.uuid4()), "event": "app_open", "created_at": clock.now.isoformat()}],
            },
        )
        assert raw.status_code == 503 and raw.headers["Retry-After"].isdigit()
        waiting = await client.flush_all()
        assert waiting.sent == 0 and waiting.retry_after_s and client.pending() == 3
        await asyncio.to_thread(kafka.start)

        async def delivered() -> bool:
            return (await client.flush_all()).accepted == 3

        await until(delivered, timeout=60, what="the queue delivered once Kafka is back")
        await until(lambda: stack.count("SELECT count(*) AS n FROM app_events") == 3, what="events stored")
    finally:
        await asyncio.to_thread(kafka.start)
        await client.close()
        await stack.close()
