"""Local Apache Kafka without Docker: one broker, or a cluster of several on this machine (`pulse infra start
--kafka-brokers 3`), each node broker and controller in one process (KRaft), jars from Maven Central (`make
setup`), data, logs and pid files under `PULSE_DATA_DIR`.
"""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pydantic import SecretStr

from services.core.kafka import client_options, min_insync_replicas
from services.core.settings import Settings
from services.infra.process import (
    InfraError,
    ServerTls,
    ServiceStatus,
    log_tail,
    pid_alive,
    pinned_versions,
    port_open,
    read_pid,
)


def kafka_addresses(settings: Settings, brokers: int | None = None) -> list[tuple[str, int]]:
    """Where the local brokers listen: the addresses of PULSE_KAFKA_BOOTSTRAP, one per broker; or, asked for more
    brokers than it lists, its first address's port and the next even ones (9092, 9094, 9096: each broker's
    controller listens one port above its own)."""
    pairs = (address.strip().rsplit(":", 1) for address in settings.kafka_bootstrap.split(","))
    listed = [(host, int(port)) for host, port in pairs]
    if brokers is None or brokers == len(listed):
        return listed
    host, port = listed[0]
    return [(host, port + 2 * i) for i in range(brokers)]


class Kafka:
    """One Apache Kafka node in KRaft mode (broker and controller in one process): the only one, under
    <data_dir>/kafka, or node `node` of a local cluster of `nodes`, under <data_dir>/kafka/cluster/node-<n> — every
    node a controller (a quorum of three survives one lost), topics replicated to all of them."""

    def __init__(
        self,
        settings: Settings,
        node: int = 1,
        nodes: int | None = None,
        *,
        tls: ServerTls | None = None,
        logins: dict[str, str] | None = None,
    ) -> None:
        """`tls`: clients and brokers talk SASL_SSL (a single node only), with SCRAM-SHA-512 `logins` (user →
        password) made when its storage is formatted."""
        versions = pinned_versions()
        self.version = versions["KAFKA_VERSION"]
        self.libs = settings.cache_dir / f"kafka-{self.version}" / "libs"
        self.settings = settings
        self.base = settings.data_dir.resolve()
        self.addresses = kafka_addresses(settings, nodes)
        self.node, self.nodes = node, len(self.addresses)
        self.host, self.port = self.addresses[node - 1]
        self.controller_port = self.port + 1
        if tls is not None and self.nodes != 1:
            raise InfraError("a local Kafka with TLS is a single node")
        self.tls, self.logins = tls, dict(logins or {})
        if self.nodes == 1:
            self.dir = self.base / "kafka"
            self.logfile = self.base / "log" / "kafka.log"
            self.pidfile = self.base / "run" / "kafka.pid"
        else:
            self.dir = self.base / "kafka" / "cluster" / f"node-{node}"
            self.logfile = self.base / "log" / f"kafka-node-{node}.log"
            self.pidfile = self.base / "run" / f"kafka-node-{node}.pid"

    def status(self) -> ServiceStatus:
        pid = read_pid(self.pidfile)
        running = pid_alive(pid) and port_open(self.host, self.port)
        return ServiceStatus(
            f"kafka {self.version}" if self.nodes == 1 else f"kafka node {self.node}/{self.nodes}",
            running,
            f"{self.host}:{self.port}",
            pid if running else None,
            f"data {self.dir / 'data'}, log {self.logfile}",
        )

    def _java(self, *args: str) -> list[str]:
        java = shutil.which("java")
        if not java:
            raise InfraError("java not found; run `make setup` first")
        heap = "-Xmx512m" if self.nodes == 1 else "-Xmx384m"  # three on a small machine
        return [
            java,
            "-Xms256m",
            heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            *args,
        ]

    def _write_config(self) -> Path:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        props = self.dir / "server.properties"
        replicas, min_isr = self.nodes, min_insync_replicas(self.nodes)
        if self.nodes == 1:
            quorum = f"controller.quorum.bootstrap.servers={self.host}:{self.controller_port}\n"
        else:  # a static quorum, every node a voter; a lost broker fenced after 6 s (default 9) of silence
            voters = ",".join(f"{n}@{host}:{port + 1}" for n, (host, port) in enumerate(self.addresses, start=1))
            quorum = (
                f"controller.quorum.voters={voters}\n"
                "broker.heartbeat.interval.ms=1000\nbroker.session.timeout.ms=6000\n"
            )
        props.write_text(
            "# written by `pulse infra start` (services/infra/local.py)\n"
            f"process.roles=broker,controller\nnode.id={self.node}\n{quorum}"
            + (self._tls_listener() if self.tls else self._plain_listener())
            + f"log.dirs={self.dir / 'data'}\n"
            f"num.partitions=4\ndefault.replication.factor={replicas}\nmin.insync.replicas={min_isr}\n"
            f"offsets.topic.replication.factor={replicas}\ntransaction.state.log.replication.factor={replicas}\n"
            f"transaction.state.log.min.isr={min_isr}\nshare.coordinator.state.topic.replication.factor={replicas}\n"
            f"share.coordinator.state.topic.min.isr={min_isr}\ngroup.initial.rebalance.delay.ms=0\n"
            "auto.create.topics.enable=false\nlog.retention.hours=168\n"
        )
        (self.dir / "log4j2.properties").write_text(
            "status = warn\nappender.file.type = File\nappender.file.name = file\n"
            f"appender.file.fileName = {self.logfile}\nappender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
            "rootLogger.level = info\nrootLogger.appenderRef.file.ref = file\n"
            "logger.kafka.name = kafka\nlogger.kafka.level = info\n"
            "logger.state.name = state.change.logger\nlogger.state.level = warn\n"
        )
        return props

    def _plain_listener(self) -> str:
        return (
            f"listeners=PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}\n"
            f"advertised.listeners=PLAINTEXT://{self.host}:{self.port}\n"
            "controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n"
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n"
        )

    def _tls_listener(self) -> str:
        """SASL_SSL for clients and for the broker itself (SCRAM-SHA-512 as `broker`), its key and certificate in a
        PKCS#12 key store (Java reads an encrypted PKCS#12; not a PEM key encrypted with today's PBES2); the
        controller stays on loopback in clear."""
        assert self.tls is not None
        keystore, password = self.dir / "keystore.p12", self._secret("keystore.password")
        key = serialization.load_pem_private_key(self.tls.key.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(self.tls.cert.read_bytes())
        encryption = serialization.BestAvailableEncryption(password.encode())
        keystore.write_bytes(pkcs12.serialize_key_and_certificates(b"kafka", key, cert, None, encryption))  # type: ignore[arg-type]
        keystore.chmod(0o600)
        return (
            f"listeners=SASL_SSL://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}\n"
            f"advertised.listeners=SASL_SSL://{self.host}:{self.port}\n"
            "controller.listener.names=CONTROLLER\ninter.broker.listener.name=SASL_SSL\n"
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL\n"
            "sasl.enabled.mechanisms=SCRAM-SHA-512\nsasl.mechanism.inter.broker.protocol=SCRAM-SHA-512\n"
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required"
            f' username="broker" password="{self._secret("broker.password")}";\n'
            f"ssl.keystore.type=PKCS12\nssl.keystore.location={keystore}\n"
            f"ssl.keystore.password={password}\nssl.key.password={password}\n"
            f"ssl.truststore.type=PEM\nssl.truststore.location={self.tls.ca}\n"
        )

    def _secret(self, name: str) -> str:
        """A password of this node's own (its SCRAM login, its key store's): made once, kept beside its storage."""
        path = self.dir / name
        if not path.exists():
            path.write_text(uuid.uuid4().hex)
            path.chmod(0o600)
        return path.read_text().strip()

    def client_options(self) -> dict[str, Any]:
        """How a client reaches this node: the product's own Kafka options (services/core/kafka.py) for its address,
        as the `broker` login when it talks SASL_SSL."""
        here: dict[str, Any] = {"kafka_bootstrap": f"{self.host}:{self.port}", "kafka_security_protocol": "PLAINTEXT"}
        if self.tls is not None:
            here |= {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_ssl_cafile": self.tls.ca,
                "kafka_sasl_mechanism": "SCRAM-SHA-512",
                "kafka_sasl_username": "broker",
                "kafka_sasl_password": SecretStr(self._secret("broker.password")),
            }
        return client_options(self.settings.model_copy(update=here))

    def start(self, timeout_s: float = 90, *, wait: bool = True) -> str:
        """Start the node (idempotent). With `wait`, return once it answers a metadata request — a node of a
        cluster cannot until a majority of its controllers run: start them all first (`start_kafka`)."""
        if not self.libs.is_dir():
            raise InfraError(f"Kafka {self.version} jars not found in {self.libs}; run `make setup` first")
        if self.status().running:
            return "already running"
        if port_open(self.host, self.port):
            raise InfraError(f"port {self.port} is taken by another program; set PULSE_KAFKA_BOOTSTRAP to another port")
        (self.base / "log").mkdir(parents=True, exist_ok=True)
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        props = self._write_config()
        if not (self.dir / "data" / "meta.properties").exists():
            self._format(props)
        # Started through a shell that backgrounds the broker and exits, so the broker outlives this process
        # and is nobody's child here (no zombie, nothing to wait for); we keep its pid.
        out = shlex.quote(str(self.logfile.with_suffix(".out")))
        launch = subprocess.run(
            ["sh", "-c", f"{shlex.join(self._java('kafka.Kafka', str(props)))} >>{out} 2>&1 </dev/null & echo $!"],
            capture_output=True,
            text=True,
            start_new_session=True,
            check=True,
        )
        pid = int(launch.stdout.strip())
        self.pidfile.write_text(str(pid))
        if wait:
            self.wait_ready(timeout_s)
        return "started"

    def _format(self, props: Path) -> None:
        if self.nodes == 1:
            how = ["--standalone", "-t", _new_cluster_id()]
            if self.tls is not None:
                logins = {"broker": self._secret("broker.password"), **self.logins}
                for user, password in logins.items():
                    how += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
        else:  # every node of a cluster formatted with one id, kept beside them
            id_file = self.dir.parent / "cluster.id"
            if not id_file.exists():
                id_file.write_text(_new_cluster_id())
            how = ["-t", id_file.read_text().strip()]
        result = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", *how, "-c", str(props)), capture_output=True, text=True
        )
        if result.returncode != 0:
            raise InfraError(f"formatting Kafka storage failed: {result.stderr.strip() or result.stdout.strip()}")

    def wait_ready(self, timeout_s: float = 90) -> None:
        pid = read_pid(self.pidfile)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                raise InfraError(f"Kafka (node {self.node}) exited during start:\n{log_tail(self.logfile)}")
            if port_open(self.host, self.port) and self._answers_metadata():
                return
            time.sleep(0.5)
        raise InfraError(
            f"Kafka (node {self.node}) did not accept connections within {timeout_s:.0f} s:\n{log_tail(self.logfile)}"
        )

    def _answers_metadata(self) -> bool:
        """True once the broker answers a metadata request (the port opens before KRaft is ready)."""
        import asyncio

        from aiokafka.admin import AIOKafkaAdminClient

        async def probe() -> bool:
            client = AIOKafkaAdminClient(**self.client_options(), request_timeout_ms=3000)
            try:
                await client.start()
                # a node of a cluster: once every broker has registered, so topics get all their replicas
                return len((await client.describe_cluster())["brokers"]) == self.nodes
            except Exception:
                return False
            finally:
                await client.close()

        return asyncio.run(probe())

    def stop(self, timeout_s: float = 30, *, kill: bool = False) -> str:
        """SIGTERM (a clean shutdown, SIGKILL after `timeout_s`), or with `kill` SIGKILL at once: a crash."""
        pid = read_pid(self.pidfile)
        if not pid_alive(pid):
            self.pidfile.unlink(missing_ok=True)
            return "not running"
        assert pid is not None
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        return "stopped"


def _new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def kafka_nodes(settings: Settings, brokers: int | None = None) -> list[Kafka]:
    """The local Kafka nodes: `brokers` of them; or as many as were last started under this data directory; or
    as many as PULSE_KAFKA_BOOTSTRAP lists."""
    record = _brokers_record(settings)
    if brokers is None:
        brokers = int(record.read_text()) if record.exists() else len(kafka_addresses(settings))
    if brokers < 1:
        raise InfraError("--kafka-brokers: at least 1")
    return [Kafka(settings, node, brokers) for node in range(1, brokers + 1)]


def _brokers_record(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "kafka" / "brokers"


def start_kafka(settings: Settings, nodes: list[Kafka]) -> list[str]:
    """Start every node, then wait until each answers with all of them registered; returns what each did. A
    single broker and a cluster keep separate data; one runs at a time on these ports."""
    record = _brokers_record(settings)
    if record.exists() and int(record.read_text()) != len(nodes):
        others = kafka_nodes(settings, int(record.read_text()))
        if any(node.status().running for node in others):
            raise InfraError(
                f"a local Kafka of {len(others)} broker(s) runs here; `pulse infra stop` it first "
                f"(its data stays under {settings.data_dir.resolve() / 'kafka'})"
            )
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(str(len(nodes)))
    done = [node.start(wait=False) for node in nodes]
    for node in nodes:
        node.wait_ready()
    return done


def components_env(nodes: list[Kafka]) -> str:
    """What components need to use a local cluster (nothing for one broker: the defaults)."""
    if len(nodes) == 1:
        return ""
    bootstrap = ",".join(f"{node.host}:{node.port}" for node in nodes)
    return f"PULSE_KAFKA_BOOTSTRAP={bootstrap} PULSE_KAFKA_REPLICATION={len(nodes)}"
