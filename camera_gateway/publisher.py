"""Gets accepted heartbeats durably into Kafka: straight to the broker when it answers, else into the spool.

`publish` returns only when every record is in Kafka (acks=all, idempotent producer) or fsynced in the spool
(SPEC §4: that is what 202 means). While the spool holds anything, new records go behind it, so the forwarder
delivers everything in the order it was accepted; once the forwarder has drained it, publishing goes straight to
Kafka again. A send that times out is spooled even though Kafka may still deliver it: a duplicate, which ingest
stores once, is the price of never losing one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import Counter, Gauge

from camera_gateway.spool import Record, Spool
from services.core.heartbeats import Delivery, WireItem, keepalive_message, message_key, to_messages

log = logging.getLogger("pulse.gateway")

_partitioner = DefaultPartitioner()
SPOOLED = Counter("pulse_gateway_spooled_total", "Records written to the on-disk spool")
FORWARDED = Counter("pulse_gateway_spool_forwarded_total", "Spooled records forwarded to Kafka")
SPOOL_RECORDS = Gauge(
    "pulse_gateway_spool_pending_records", "Kafka messages waiting in the spool (up to 500 heartbeats each)"
)
SPOOL_BYTES = Gauge("pulse_gateway_spool_pending_bytes", "Bytes waiting in the spool")
SPOOL_MODE = Gauge("pulse_gateway_spool_mode", "1 while new records go to the spool (Kafka unreachable or draining)")


def heartbeat_records(items: Sequence[WireItem], delivery: Delivery) -> list[Record]:
    """Accepted heartbeats as version-2 messages (services/core/heartbeats.py), keyed by their gateway."""
    key = message_key(delivery.gateway_id)
    return [Record(key, value) for value in to_messages(items, delivery)]


def keepalive_record(gateway_id: int, ts: datetime, received_at: datetime) -> Record:
    """A gateway's own keep-alive (it moves the gateway's watermark, SPEC §5), keyed like its heartbeats."""
    return Record(message_key(gateway_id), keepalive_message(gateway_id=gateway_id, ts=ts, received_at=received_at))


class Publisher:
    def __init__(
        self,
        *,
        kafka: dict[str, Any],
        topic: str,
        spool: Spool,
        send_timeout_s: float = 5.0,
        forward_batch: int = 2000,
    ) -> None:
        self.topic = topic
        self.spool = spool
        self.send_timeout_s = send_timeout_s
        self.forward_batch = forward_batch
        self.kafka = kafka  # services/core/kafka.py client_options: the brokers, TLS and SASL
        self.producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._spool_mode = not spool.is_empty()
        self._wake = asyncio.Event()
        self._forwarder: asyncio.Task[None] | None = None
        self._stopping = False
        self._partition_of: dict[bytes, int] = {}
        self._partition_count = 0

    async def _producer(self) -> AIOKafkaProducer:
        """The started producer; a new one when Kafka was away at start (a failed start is not retried)."""
        if self.producer is None:
            producer = AIOKafkaProducer(
                **self.kafka,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                max_batch_size=1 << 20,
                compression_type="lz4",
                request_timeout_ms=int(self.send_timeout_s * 1000),
            )
            try:
                await asyncio.wait_for(producer.start(), self.send_timeout_s * 2)
            except BaseException:
                await producer.stop()
                raise
            self.producer = producer
        return self.producer

    async def start(self) -> None:
        try:
            await self._producer()
        except (KafkaError, TimeoutError, OSError) as exc:
            # Start anyway: the gateway must keep accepting into the spool while Kafka is away.
            log.warning("Kafka unreachable at start (%s); accepting into the spool", exc.__class__.__name__)
            self._spool_mode = True
        self._forwarder = asyncio.create_task(self._forward_forever(), name="spool-forwarder")
        self._update_gauges()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._forwarder is not None:
            self._forwarder.cancel()
            await asyncio.gather(self._forwarder, return_exceptions=True)
        if self.producer is not None:
            await self.producer.stop()

    @property
    def spooling(self) -> bool:
        return self._spool_mode

    async def publish(self, records: Sequence[Record]) -> None:
        """Durably hand over `records`; raises SpoolFull when they can go neither to Kafka nor to the spool."""
        if not records:
            return
        async with self._lock:
            if self._spool_mode:
                await self._append(records)
                return
        try:
            await self._send(records)
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("Kafka send failed (%s); spooling %d record(s)", exc.__class__.__name__, len(records))
            async with self._lock:
                self._spool_mode = True
                await self._append(records)

    async def _append(self, records: Sequence[Record]) -> None:
        await asyncio.to_thread(self.spool.append, records)
        SPOOLED.inc(len(records))
        self._update_gauges()
        self._wake.set()

    async def _send(self, records: Sequence[Record]) -> None:
        async def send_all() -> None:
            producer = await self._producer()
            partitions = sorted(await producer.partitions_for(self.topic))
            if len(partitions) != self._partition_count:
                self._partition_of.clear()
                self._partition_count = len(partitions)
            futures = []
            for r in records:
                # The same partition `send` would pick from the key (murmur2), remembered per camera: the
                # pure-Python hash is a measurable share of the gateway's time per heartbeat.
                partition = self._partition_of.get(r.key)
                if partition is None:
                    partition = self._partition_of[r.key] = _partitioner(r.key, partitions, partitions)
                futures.append(await producer.send(self.topic, r.value, key=r.key, partition=partition))
            await asyncio.gather(*futures)

        await asyncio.wait_for(send_all(), self.send_timeout_s)

    async def _forward_forever(self) -> None:
        delay = 0.2
        while not self._stopping:
            outcome = await self.forward_step()
            if outcome == "forwarded":
                delay = 0.2
            elif outcome == "failed":
                await asyncio.sleep(delay)  # Kafka still away: back off
                delay = min(delay * 2, 5.0)
            else:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                except TimeoutError:
                    pass
                self._wake.clear()

    async def forward_step(self) -> Literal["empty", "forwarded", "failed"]:
        """Forward one batch from the spool head to Kafka."""
        batch = await asyncio.to_thread(self.spool.peek, self.forward_batch)
        if not batch:
            async with self._lock:
                if self.spool.is_empty() and self._spool_mode:
                    self._spool_mode = False
                    log.info("spool drained; publishing straight to Kafka again")
                    self._update_gauges()
            return "empty"
        try:
            await self._send(batch)
        except (KafkaError, TimeoutError, OSError):
            return "failed"
        await asyncio.to_thread(self.spool.advance, len(batch))
        FORWARDED.inc(len(batch))
        self._update_gauges()
        return "forwarded"

    def _update_gauges(self) -> None:
        SPOOL_RECORDS.set(self.spool.pending_records)
        SPOOL_BYTES.set(self.spool.pending_bytes)
        SPOOL_MODE.set(1 if self._spool_mode else 0)
