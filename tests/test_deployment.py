"""docker-compose.yml cannot run here (no Docker engine), so its promises are checked structurally:
every service that runs `pulse …` names a command the CLI has, and Prometheus scrapes every HTTP component."""

from pathlib import Path

import click
import yaml

from services.cli import cli

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _cli_has(args: list[str]) -> bool:
    command: click.Command = cli
    ctx = click.Context(cli)
    for word in args:
        if word.startswith("-") or not isinstance(command, click.Group):
            break
        sub = command.get_command(ctx, word)
        if sub is None:
            return False
        command = sub
    return not isinstance(command, click.Group)


def test_every_pulse_service_runs_a_command_the_cli_has() -> None:
    pulse_services = {
        name: svc["command"] for name, svc in COMPOSE["services"].items() if svc.get("command", [""])[0] == "pulse"
    }
    assert {"migrate", "api", "camera-gateway", "app-events", "ingest"} <= set(pulse_services)
    for name, command in pulse_services.items():
        assert _cli_has(command[1:]), f"service {name}: `{' '.join(command)}` is not a pulse command"


def test_compose_runs_kafka_in_kraft_mode_and_the_full_timescaledb_edition() -> None:
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    versions = dict(
        line.split("=", 1)
        for line in (ROOT / "infra/versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert kafka["image"] == f"apache/kafka:{versions['KAFKA_VERSION']}"
    image = COMPOSE["services"]["timescaledb"]["image"]
    assert image.startswith("timescale/timescaledb:") and "-oss" not in image


def test_every_secret_file_named_by_compose_exists() -> None:
    for name, secret in COMPOSE["secrets"].items():
        assert (ROOT / secret["file"]).is_file(), name


def test_only_the_components_that_unseal_secrets_have_the_key() -> None:
    """Sealed secrets (services/core/sealing.py) are opened only where they are used: the collector and prober
    (camera-gateway), the alerts engine (channels), and migrate (which seals what was stored in clear)."""
    keyed = {
        name
        for name, svc in COMPOSE["services"].items()
        if "device_key" in svc.get("secrets", []) and "PULSE_DEVICE_KEY_FILE" in svc.get("environment", {})
    }
    assert keyed == {"camera-gateway", "alerts", "migrate"}


def test_prometheus_scrapes_every_http_component() -> None:
    config = yaml.safe_load((ROOT / "dashboards/prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    for name, svc in COMPOSE["services"].items():
        if svc.get("command", [""])[0] == "pulse" and ("ports" in svc or "expose" in svc):
            port = (svc.get("ports") or svc["expose"])[0].split(":")[-1]
            assert f"{name}:{port}" in targets, name


def test_the_prometheus_rules_parse_and_name_metrics_the_product_exports() -> None:
    import re

    rules = yaml.safe_load((ROOT / "dashboards/prometheus/rules/pulse.yml").read_text())
    exported = set()
    for path in list((ROOT / "services").rglob("*.py")) + list((ROOT / "camera_gateway").rglob("*.py")):
        exported |= set(re.findall(r'(?:Counter|Gauge|Histogram)\(\s*"(pulse_[a-z_]+)"', path.read_text()))
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] and rule["expr"]
            for name in re.findall(r"\b(pulse_[a-z_]+)\b", rule["expr"]):
                assert name in exported, f"{rule['alert']}: {name} is not a metric the product exports"


def test_the_api_logs_in_as_its_own_login_which_migrate_creates() -> None:
    """Issue 31: the API is no schema owner (it may add to the audit trail, never change it), so compose gives it
    a login of its own, and `pulse migrate` (which creates that login) reads the same secret."""
    from urllib.parse import urlsplit

    for name in ("api", "migrate"):
        svc = COMPOSE["services"][name]
        assert svc["environment"]["PULSE_API_DATABASE_URL_FILE"] == "/run/secrets/api_database_url", name
        assert {"database_url", "api_database_url"} <= set(svc["secrets"]), name
    owner = urlsplit((ROOT / COMPOSE["secrets"]["database_url"]["file"]).read_text().strip()).username
    api = urlsplit((ROOT / COMPOSE["secrets"]["api_database_url"]["file"]).read_text().strip()).username
    assert api and api != owner


def test_grafana_reads_the_database_as_its_own_login_that_migrate_makes() -> None:
    from services.core.migrate import GRAFANA_LOGIN

    sources = yaml.safe_load((ROOT / "dashboards/grafana/provisioning/datasources/pulse.yml").read_text())
    (timescale,) = [d for d in sources["datasources"] if d["type"] == "grafana-postgresql-datasource"]
    assert timescale["user"] == GRAFANA_LOGIN
    assert timescale["secureJsonData"]["password"] == "$GF_PULSE_DB_PASSWORD"
    grafana = COMPOSE["services"]["grafana"]
    assert grafana["environment"]["GF_PULSE_DB_PASSWORD__FILE"] == "/run/secrets/grafana_db_password"
    assert "grafana_db_password" in grafana["secrets"]
    migrate = COMPOSE["services"]["migrate"]
    assert migrate["environment"]["PULSE_GRAFANA_DB_PASSWORD_FILE"] == "/run/secrets/grafana_db_password"
    assert "grafana_db_password" in migrate["secrets"]


def test_only_the_tls_proxy_publishes_ports_and_it_fronts_the_three_http_components() -> None:
    published = {name for name, svc in COMPOSE["services"].items() if svc.get("ports")}
    assert published == {"proxy"}
    assert sorted(COMPOSE["services"]["proxy"]["ports"]) == ["443:443", "443:443/udp", "80:80"]
    caddyfile = (ROOT / "deploy/caddy/Caddyfile").read_text()
    for upstream in ("api:8080", "camera-gateway:8081", "app-events:8082", "grafana:3000"):
        assert upstream in caddyfile
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in COMPOSE["services"]["proxy"]["volumes"]
    assert COMPOSE["x-pulse"]["environment"]["PULSE_PUBLIC_URL"].startswith("https://")
