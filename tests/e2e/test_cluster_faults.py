"""Faults on a replicated Kafka cluster (three brokers on this machine, `pulse infra start --kafka-brokers 3`):
topics with three replicas and min.insync.replicas 2, producers with acks=all and idempotence. Under the load of
tests/e2e/load.py (chaos.chaos_under_load): the heartbeat partition's leader killed and brought back, with two
`pulse alerts` processes of which the leading one is killed too; the same broker frozen for a minute; the gateway
in use killed while the cameras fail over to another; an ingest process killed amid a rebalance. Each time every
acknowledged heartbeat and event is stored exactly once, and `pulse alerts` opens no incident but the one for the
camera that really went silent (with two processes: its message sent exactly once).

The cluster is this module's own (its data directory and ports), started fresh for it and stopped after it.
"""

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.core import kafka
from services.core.settings import Settings
from services.infra.kafka import Kafka, kafka_nodes, start_kafka
from services.infra.process import read_pid
from tests.e2e.chaos import chaos_under_load
from tests.e2e.conftest import T
from tests.e2e.harness import Stack
from tests.e2e.instances import AlertsProcesses, GatewayProcesses, IngestProcesses
from tests.e2e.load import Load
from tests.e2e.on_clock import ClockFile

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
        return await fault.felt(stack, load) and await asyncio.to_thread(alerts.another_leads)

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


async def test_a_gateway_killed_while_the_cameras_fail_over_loses_nothing(on_cluster, conn, tmp_path) -> None:
    """The cameras post through two gateway processes (one address list, as the simulator and the app's client
    use it); the one in use is killed with SIGKILL and the load goes on through the other."""
    clock = ClockFile(T, tmp_path / "clock")
    gateways = GatewayProcesses(clock, tmp_path, tmp_path / "gateways.log")
    await chaos_under_load(
        on_cluster,
        conn,
        tmp_path,
        clock,
        crash=lambda stack: gateways.kill_current(),
        recover=lambda stack: None,  # one gateway is enough; the other stays dead
        felt=lambda stack, load: gateways.moved_on(),
        gateways=gateways,
    )


async def test_an_ingest_process_killed_amid_a_rebalance_stores_everything_once(
    on_cluster, conn, tmp_path, clock
) -> None:
    """Ingest runs as `pulse ingest` processes in one consumer group: a second joins mid-stream, and the first is
    killed with SIGKILL as soon as the group's coordinator reports the rebalance the join began; the second takes
    every partition over."""
    ingest = IngestProcesses(tmp_path / "ingest.log", PULSE_INGEST_BATCH_MAX="300")
    await chaos_under_load(
        on_cluster,
        conn,
        tmp_path,
        clock,
        crash=lambda stack: ingest.kill_first_amid_rebalance(stack.settings),
        recover=lambda stack: None,
        felt=lambda stack, load: ingest.killed == [0] and ingest.alive(1),
        ingest=ingest,
    )
