"""Faults on a replicated Kafka cluster (three brokers on this machine, `pulse infra start --kafka-brokers 3`):
topics with three replicas and min.insync.replicas 2, producers with acks=all and idempotence. Under the load of
tests/e2e/load.py a broker is lost and comes back; every acknowledged heartbeat and event is stored exactly once,
and `pulse alerts` opens no incident but the one for the camera that really went silent — in the first test two
`pulse alerts` processes, the leading one killed with the broker, and that camera's message sent exactly once.

The cluster is this module's own (its data directory and ports), started fresh for it and stopped after it.
"""

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.core import kafka
from services.core.settings import Settings
from services.infra.kafka import Kafka, kafka_nodes, start_kafka
from services.infra.process import read_pid
from tests.e2e.alerts_process import AlertsProcesses, ClockFile
from tests.e2e.chaos import (
    chaos_under_load,
    check_stored_exactly_once,
    start_component,
    terminate,
)
from tests.e2e.conftest import T
from tests.e2e.harness import Stack, start_stack, until
from tests.e2e.load import Load

pytestmark = [pytest.mark.db, pytest.mark.kafka]
PORTS = (19092, 19094, 19096)  # each broker's controller one above


@pytest.fixture(scope="module")
def cluster(base_settings: Settings) -> Iterator[list[Kafka]]:
    cluster_settings = base_settings.model_copy(
        update={
            "data_dir": base_settings.data_dir / "test-cluster",
            "kafka_bootstrap": ",".join(f"127.0.0.1:{port}" for port in PORTS),
            "kafka_replication": 3,
        }
    )
    nodes = kafka_nodes(cluster_settings, 3)
    for node in nodes:
        node.stop(kill=True)  # one left by a session that was killed
    shutil.rmtree(cluster_settings.data_dir / "kafka", ignore_errors=True)  # a fresh cluster: no old topics
    start_kafka(cluster_settings, nodes)
    try:
        yield nodes
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture
def on_cluster(settings: Settings, cluster: list[Kafka]) -> Settings:
    bootstrap = ",".join(f"{node.host}:{node.port}" for node in cluster)
    return settings.model_copy(update={"kafka_bootstrap": bootstrap, "kafka_replication": len(cluster)})


async def _partitions(settings: Settings, topic: str) -> list[dict]:
    """The partitions of `topic` as the cluster describes them (leader, replicas, in-sync replicas); none when
    the broker asked does not answer (the admin client may pick the one taken away: the caller asks again)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        (described,) = await admin.describe_topics([topic])
        return described["partitions"]
    except KafkaError:
        return []
    finally:
        await admin.close()


async def _leaders(settings: Settings, topic: str) -> dict[int, int]:
    """Each partition of `topic` and the node that leads it."""
    return {p["partition"]: p["leader"] for p in await _partitions(settings, topic)}


def _heartbeat_partition(stack: Stack) -> int:
    """The partition the stack's one gateway writes to (wire version 2 keys a gateway's messages together)."""
    publisher = stack.gateway_app.state.publisher
    (partition,) = set(publisher._partition_of.values())
    return partition


def _replicas_in_sync(settings: Settings, topic: str) -> bool:
    partitions = asyncio.run(_partitions(settings, topic))
    return bool(partitions) and all(len(p["isr"]) == len(p["replicas"]) == 3 for p in partitions)


class LeaderFault:
    """The broker that leads the stack's heartbeat partition, taken away (`take`) and given back (`give`); felt
    once another broker leads the partition."""

    def __init__(self, cluster: list[Kafka], take: Callable[[Kafka], None], give: Callable[[Kafka], None]) -> None:
        self.cluster, self.take, self.give = cluster, take, give
        self.node: Kafka | None = None
        self.partition = -1

    def crash(self, stack: Stack) -> None:
        self.partition = _heartbeat_partition(stack)
        leaders: dict[int, int] = {}
        deadline = time.monotonic() + 30
        while self.partition not in leaders:  # every broker runs: the first answer comes at once
            assert time.monotonic() < deadline, "the cluster does not describe the heartbeat topic"
            leaders = asyncio.run(_leaders(stack.settings, kafka.topic(stack.settings, kafka.HEARTBEATS)))
        leader = leaders[self.partition]
        self.node = self.cluster[leader - 1]
        self.take(self.node)

    def recover(self, stack: Stack) -> None:
        if self.node is None:
            return
        self.give(self.node)
        topic = kafka.topic(stack.settings, kafka.HEARTBEATS)
        deadline = time.monotonic() + 120
        while not _replicas_in_sync(stack.settings, topic):  # the node caught up again
            assert time.monotonic() < deadline, f"node {self.node.node} never caught up"
            time.sleep(0.5)  # ok: polling another process's state with a deadline

    async def felt(self, stack: Stack, load: Load) -> bool:
        leader = (await _leaders(stack.settings, kafka.topic(stack.settings, kafka.HEARTBEATS))).get(self.partition)
        return self.node is not None and leader not in (None, -1, self.node.node)


async def test_the_heartbeat_partitions_leader_killed_and_brought_back_loses_nothing(
    on_cluster, cluster, conn, tmp_path, receivers
) -> None:
    """Two `pulse alerts` processes judge; the one that leads is killed (SIGKILL) together with the broker, after
    the silent camera's incident opened and before its message (a group wait of ten minutes of the load's
    clock): the other takes over and says it once."""
    clock = ClockFile(T, tmp_path / "clock")
    alerts = AlertsProcesses(clock, receivers, tmp_path / "alerts.log", PULSE_ALERT_GROUP_WAIT_S="600")
    fault = LeaderFault(cluster, take=lambda node: node.stop(kill=True), give=lambda node: node.start())

    def crash(stack: Stack) -> None:
        alerts.kill_leader()
        fault.crash(stack)

    async def felt(stack: Stack, load: Load) -> bool:
        return await fault.felt(stack, load) and await asyncio.to_thread(alerts.leader) is not None

    await chaos_under_load(
        on_cluster, conn, tmp_path, clock, crash=crash, recover=fault.recover, felt=felt, alerts=alerts
    )
    assert alerts.killed and alerts.said_before_kill == []  # killed between the incident and its message


async def test_the_leader_kept_away_for_a_minute_loses_nothing(on_cluster, cluster, conn, tmp_path, clock) -> None:
    """Frozen (SIGSTOP), not dead: it holds its connections open and answers nothing for a minute, then goes on
    (SIGCONT) as if nothing happened, a leader no longer."""
    frozen_at: list[float] = []

    def pid(node: Kafka) -> int:
        found = read_pid(node.pidfile)
        assert found, f"node {node.node} has no pid"
        return found

    def freeze(node: Kafka) -> None:
        os.kill(pid(node), signal.SIGSTOP)
        frozen_at.append(time.monotonic())

    def thaw(node: Kafka) -> None:
        if frozen_at:
            time.sleep(max(0.0, frozen_at[0] + 60 - time.monotonic()))  # ok: the fault lasts a minute
        os.kill(pid(node), signal.SIGCONT)

    fault = LeaderFault(cluster, take=freeze, give=thaw)
    await chaos_under_load(on_cluster, conn, tmp_path, clock, crash=fault.crash, recover=fault.recover, felt=fault.felt)


async def test_an_ingest_process_killed_amid_rebalances_stores_everything_once(
    on_cluster, cluster, conn, tmp_path, clock
) -> None:
    """Two `pulse ingest` processes in one consumer group on the cluster: the second joins mid-stream (a
    rebalance), then the first is killed with SIGKILL, a batch in hand and uncommitted (another rebalance, once its
    session times out); the second takes every partition over, and every acknowledged heartbeat is stored
    exactly once."""
    stack = await start_stack(on_cluster, conn, tmp_path, clock, ingest=False)
    log = (tmp_path / "ingest.log").open("ab")  # closed in `finally`
    procs: list[asyncio.subprocess.Process] = []

    async def ingest() -> asyncio.subprocess.Process:
        return await start_component(stack.settings, log, "ingest", PULSE_INGEST_BATCH_MAX="300")

    try:
        token = stack.gateway("gw", "15865")
        stack.start_alerts()
        clock.advance(7200)
        sent = [
            {"camera_id": f"cam-{c:04d}", "ts": (T + timedelta(seconds=60 * i)).isoformat()}
            for i in range(60)
            for c in range(150)
        ]  # 9,000 heartbeats, in two waves
        for i in range(0, 4500, 900):
            assert (await stack.push(token, sent[i : i + 900])).json()["accepted"] == 900
        procs.append(await ingest())
        await until(lambda: stack.stored() >= 500, timeout=90, what="the first ingest to store")
        procs.append(await ingest())  # joins: the group rebalances
        await until(lambda: stack.stored() >= 1500, timeout=90, what="more stored")
        procs[0].send_signal(signal.SIGKILL)  # the first dies, its batch uncommitted
        await asyncio.wait_for(procs[0].wait(), 30)
        for i in range(4500, 9000, 900):
            assert (await stack.push(token, sent[i : i + 900])).json()["accepted"] == 900
        await stack.settle(len(sent), timeout=180)
        check_stored_exactly_once(stack, len(sent))
    finally:
        await terminate(procs)
        log.close()
        await stack.close()
