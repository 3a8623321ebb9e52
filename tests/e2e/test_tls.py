"""TLS where heartbeats travel (issue 31): a Kafka broker that speaks SASL_SSL only (SCRAM-SHA-512) and a
PostgreSQL that accepts TLS only, both with certificates from a CA this test makes (tests/tls.py), run by the
project's own local infrastructure (services/infra). The pipeline — gateway, Kafka, ingest, the API — stores and
answers heartbeats with the settings a deployment uses (PULSE_KAFKA_SECURITY_PROTOCOL=SASL_SSL and friends,
`sslmode=verify-full` in PULSE_DATABASE_URL); a client given the wrong CA, or no TLS, or a wrong password, is
refused."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest
from pydantic import SecretStr

from services.core.db import connect
from services.core.kafka import broker_reachable
from services.core.migrate import migrate
from services.core.settings import Settings
from services.infra.kafka import Kafka
from services.infra.local import Postgres
from services.infra.process import ServerTls
from tests.e2e.harness import free_port, start_stack, until
from tests.tls import Pki, make_pki

pytestmark = [pytest.mark.db, pytest.mark.kafka]
PG_PASSWORD = "pg-tls-test"
KAFKA_USER, KAFKA_PASSWORD = "pulse", "kafka-tls-test"


@dataclass(frozen=True)
class Secured:
    pki: Pki
    pg_port: int
    kafka_port: int

    def settings(
        self, base: Settings, *, ca=None, sslmode: str = "verify-full", kafka_password=KAFKA_PASSWORD
    ) -> Settings:
        """The settings a deployment gives every component to use these two servers."""
        ca = ca or self.pki.ca
        url = f"postgresql://pulse:{PG_PASSWORD}@127.0.0.1:{self.pg_port}/pulse_tls?sslmode={sslmode}&sslrootcert={ca}"
        return base.model_copy(
            update={
                "database_url": url,
                "api_database_url": None,
                "database_read_url": None,
                "kafka_bootstrap": f"127.0.0.1:{self.kafka_port}",
                "kafka_security_protocol": "SASL_SSL",
                "kafka_ssl_cafile": ca,
                "kafka_sasl_mechanism": "SCRAM-SHA-512",
                "kafka_sasl_username": KAFKA_USER,
                "kafka_sasl_password": SecretStr(kafka_password),
            }
        )


def _free_pair() -> int:
    """A free port whose next one is free too (a Kafka node's controller listens one above its broker)."""
    while True:
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


@pytest.fixture(scope="module")
def secured(base_settings: Settings) -> Iterator[Secured]:
    root = base_settings.data_dir.resolve() / "tls-test"  # where the postgres user can reach, as var/ is
    shutil.rmtree(root, ignore_errors=True)
    pki = make_pki(root / "pki")
    found = Secured(pki, free_port(), _free_pair())
    here = base_settings.model_copy(
        update={
            "data_dir": root,
            "database_url": f"postgresql://pulse:{PG_PASSWORD}@127.0.0.1:{found.pg_port}/pulse_tls",
            "kafka_bootstrap": f"127.0.0.1:{found.kafka_port}",
        }
    )
    postgres = Postgres(here, tls=ServerTls(pki.cert, pki.key, pki.ca))
    kafka = Kafka(
        here,
        tls=ServerTls(pki.cert, pki.key, pki.ca),
        logins={KAFKA_USER: KAFKA_PASSWORD},
    )
    try:
        postgres.start()
        kafka.start()
        with connect(found.settings(base_settings), autocommit=True) as conn:
            migrate(conn, timezone=base_settings.timezone)
        yield found
    finally:
        kafka.stop(kill=True)
        postgres.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


async def test_heartbeats_go_through_kafka_over_sasl_ssl_into_postgresql_over_verify_full(
    secured: Secured, base_settings: Settings, tmp_path, clock
) -> None:
    settings = secured.settings(base_settings)
    with connect(settings, autocommit=True) as conn:
        stack = await start_stack(settings, conn, tmp_path, clock)
        try:
            token = stack.gateway("gw-tls", "15865")
            beats = [{"camera_id": f"tls-{i}", "ts": clock.now.isoformat()} for i in range(5)]
            assert (await stack.push(token, beats)).json()["accepted"] == 5
            clock.advance(timedelta(seconds=60).total_seconds())
            await stack.push(token, [{**b, "ts": clock.now.isoformat()} for b in beats])
            await until(lambda: stack.count("SELECT count(*) AS n FROM heartbeats") == 10, what="10 heartbeats stored")
            answer = await stack.api("/api/v1/cameras", unit_set="2024", unit="15865")
            assert sorted(c["camera_id"] for c in answer["items"]) == [f"tls-{i}" for i in range(5)]
            clients = conn.execute(
                "SELECT count(*) AS n, count(*) FILTER (WHERE s.ssl) AS tls FROM pg_stat_activity a"
                " JOIN pg_stat_ssl s USING (pid) WHERE a.datname = 'pulse_tls' AND a.backend_type = 'client backend'"
            ).fetchone()
            assert clients["n"] >= 3 and clients["tls"] == clients["n"]  # the API's, ingest's and this one, all TLS
        finally:
            await stack.close()


async def test_the_wrong_ca_no_tls_or_a_wrong_password_is_refused(secured: Secured, base_settings: Settings) -> None:
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(secured.settings(base_settings, ca=secured.pki.wrong_ca).database_url, connect_timeout=5)
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(secured.settings(base_settings, sslmode="disable").database_url, connect_timeout=5)
    assert await broker_reachable(secured.settings(base_settings), timeout_ms=5000)
    assert not await broker_reachable(secured.settings(base_settings, ca=secured.pki.wrong_ca), timeout_ms=5000)
    assert not await broker_reachable(secured.settings(base_settings, kafka_password="wrong"), timeout_ms=5000)
    plain = base_settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{secured.kafka_port}"})
    assert not await broker_reachable(plain, timeout_ms=5000)
