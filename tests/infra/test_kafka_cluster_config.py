"""A local Kafka cluster's layout and configuration, worked out without starting anything (the cluster itself runs
in tests/e2e/test_cluster_faults.py)."""

from pathlib import Path

from services.core.kafka import min_insync_replicas
from services.core.settings import Settings
from services.infra.kafka import Kafka, components_env, kafka_addresses, kafka_nodes


def settings(tmp_path: Path, bootstrap: str = "127.0.0.1:9092") -> Settings:
    return Settings(kafka_bootstrap=bootstrap, data_dir=tmp_path)


def test_brokers_listen_on_the_listed_addresses_or_on_every_other_port_after_the_first(tmp_path) -> None:
    assert kafka_addresses(settings(tmp_path)) == [("127.0.0.1", 9092)]
    assert kafka_addresses(settings(tmp_path), 3) == [("127.0.0.1", 9092), ("127.0.0.1", 9094), ("127.0.0.1", 9096)]
    listed = settings(tmp_path, "127.0.0.1:19092, 127.0.0.1:19094,127.0.0.1:19096")
    assert kafka_addresses(listed) == [("127.0.0.1", 19092), ("127.0.0.1", 19094), ("127.0.0.1", 19096)]


def test_an_acknowledged_message_is_on_all_replicas_but_one() -> None:
    assert [min_insync_replicas(n) for n in (1, 2, 3, 5)] == [1, 1, 2, 4]


def test_a_node_of_three_is_a_voter_of_a_static_quorum_and_replicates_to_all(tmp_path) -> None:
    node = Kafka(settings(tmp_path), node=2, nodes=3)
    props = dict(
        line.split("=", 1) for line in node._write_config().read_text().splitlines() if "=" in line and line[0] != "#"
    )
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert (props["default.replication.factor"], props["min.insync.replicas"]) == ("3", "2")
    assert (props["offsets.topic.replication.factor"], props["transaction.state.log.min.isr"]) == ("3", "2")
    assert node.dir == tmp_path.resolve() / "kafka" / "cluster" / "node-2"
    assert node.pidfile.name == "kafka-node-2.pid"


def test_a_single_broker_keeps_the_layout_it_always_had(tmp_path) -> None:
    (node,) = kafka_nodes(settings(tmp_path))
    props = node._write_config().read_text()
    assert "controller.quorum.bootstrap.servers=127.0.0.1:9093" in props and "quorum.voters" not in props
    assert "default.replication.factor=1\nmin.insync.replicas=1\n" in props
    assert node.dir == tmp_path.resolve() / "kafka" and node.pidfile.name == "kafka.pid"
    assert components_env([node]) == ""


def test_the_cluster_last_started_is_the_one_stop_and_status_see(tmp_path) -> None:
    record = tmp_path / "kafka" / "brokers"
    record.parent.mkdir(parents=True)
    record.write_text("3")
    nodes = kafka_nodes(settings(tmp_path))
    assert [n.port for n in nodes] == [9092, 9094, 9096]
    assert components_env(nodes) == (
        "PULSE_KAFKA_BOOTSTRAP=127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096 PULSE_KAFKA_REPLICATION=3"
    )
