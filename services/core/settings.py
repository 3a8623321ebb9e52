"""The one typed settings object of commune-pulse, read from `PULSE_*` environment variables.

Every component calls `load_settings()` once at start. A bad value stops the process with one line that
names the variable (`ConfigError`), before anything connects anywhere. Secrets may also come from a file
named by `<VAR>_FILE` (docker-compose secrets). An unknown `PULSE_*` variable is an error too: a typo in a
deployment should not silently fall back to a default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PULSE_"
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
Port = Annotated[int, Field(ge=1, le=65535)]


class ConfigError(Exception):
    """Bad configuration; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    database_url: str = "postgresql://pulse:pulse@127.0.0.1:5432/pulse"
    # The API's own login (a member of `pulse_app`, migration 0021: it may add to the audit trail, never change it);
    # unset: the API uses PULSE_DATABASE_URL, as the schema's owner.
    api_database_url: str | None = None
    # A streaming replica for the API's and the reports' reads (writers never use it); unset: the primary.
    database_read_url: str | None = None
    # Beyond this lag the dashboard's footer says the figures come from a replica that far behind.
    read_replica_max_lag_s: float = Field(default=10.0, gt=0, le=86_400)
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = Field(default=6, ge=1, le=1000)
    kafka_replication: int = Field(default=1, ge=1, le=10)
    # Prefixes every topic and consumer group, so several deployments (or test runs) can share one cluster.
    kafka_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]{0,100}$")
    # How every component talks to Kafka (services/core/kafka.py `client_options`): in clear on a private network,
    # or over TLS — the broker's certificate checked against `kafka_ssl_cafile` (the system's CAs when unset) and
    # its name against the bootstrap host — with a SASL login (SCRAM or PLAIN) on SASL_SSL.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    kafka_ssl_cafile: Path | None = None
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = Field(default=None, validate_default=True)
    api_port: Port = 8080
    # The API's database connections (and its replica's), which are also the requests it serves at once; a request
    # that cannot begin within PULSE_API_QUEUE_WAIT_S is answered 503 with Retry-After (issue 28).
    api_db_pool: int = Field(default=10, ge=1, le=200)
    api_queue_wait_s: float = Field(default=2.0, gt=0, le=60)
    # Open dashboards are told of live-state changes this often (pushed); the units' availability today and this
    # month is recomputed at most this often (each answer says as of when).
    live_tick_s: float = Field(default=1.0, gt=0, le=60)
    live_figures_s: float = Field(default=5.0, ge=0, le=300)
    gateway_port: Port = 8081
    app_events_port: Port = 8082
    ingest_metrics_port: Port = 9101
    alerts_metrics_port: Port = 9102
    bind_host: str = "127.0.0.1"
    timezone: str = "Asia/Ho_Chi_Minh"
    unit_set: str = Field(default="2024", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    pseudonym_key: SecretStr | None = None
    # Ingest: the largest batch written in one transaction (and one offset commit).
    ingest_batch_max: int = Field(default=20_000, ge=1, le=200_000)
    # Camera gateway: the on-disk spool's bound, and how long a Kafka send may take before spooling.
    spool_max_bytes: int = Field(default=1 << 30, ge=1 << 20)
    gateway_send_timeout_s: float = Field(default=5.0, gt=0, le=120)
    # A gateway that delivered nothing (heartbeat or keep-alive) for this long is silent: its cameras are
    # `unknown` in live state rather than down (SPEC §5).
    gateway_silence_s: int = Field(default=180, ge=10)
    # Stream prober (SPEC §4): runs inside the camera gateway when given the token of the gateway it reports
    # as (`pulse gateways add --name prober --unit …`); it probes that gateway's cameras that have a stream_url.
    prober_token: SecretStr | None = None
    probe_interval_s: int = Field(default=60, ge=1, le=3600)
    # Device collection (SPEC §4 "Devices"): runs inside the camera gateway when given the token of the gateway it
    # reports as; it collects from every device of that gateway's units.
    collector_token: SecretStr | None = None
    # The key of every secret at rest (services/core/sealing.py): device passwords and cloud secrets, channels'
    # tokens, stream URLs. `device_key_previous`: the keys it replaced, while `pulse keys rotate` is under way.
    device_key: SecretStr | None = None
    device_key_previous: SecretStr | None = None
    # Grafana's database login (`pulse_grafana`, reads figures only: migration 0026), made by `pulse migrate`.
    grafana_db_password: SecretStr | None = None
    # An alarm a device does not repeat within this many seconds clears itself (many never send "inactive").
    device_alarm_hold_s: float = Field(default=60.0, gt=0, le=86_400)
    prober_concurrency: int = Field(default=4, ge=1, le=256)
    probe_deadline_s: float = Field(default=15.0, gt=0, le=120)
    # App-events collector: requests per client (app and install) per minute before 429.
    app_events_rate_per_minute: int = Field(default=120, ge=1, le=100_000)
    # And per client address, whatever install id it claims (a forged client can make up new ones). Generous:
    # mobile networks put thousands of phones behind one carrier-grade NAT address (operations.md).
    app_events_rate_per_address_per_minute: int = Field(default=6_000, ge=1, le=1_000_000)
    # Alert timings and rules, SPEC §6.
    outage_ratio: float = Field(default=0.5, gt=0, le=1)
    outage_min_cameras: int = Field(default=3, ge=1)
    outage_window_s: int = Field(default=120, ge=1)
    alert_group_wait_s: int = Field(default=30, ge=0)
    alert_repeat_s: int = Field(default=14_400, ge=1)
    alert_tick_s: float = Field(default=1.0, gt=0, le=60)
    # Ingest is stalled when its committed offsets have not moved for this long while messages wait, or when
    # more than `pipeline_lag_max` messages wait; camera alerts are held meanwhile.
    pipeline_stall_s: float = Field(default=60.0, gt=0)
    pipeline_lag_max: int = Field(default=500_000, ge=1)
    # Notification channels (SPEC §6): base URLs are configurable (a proxy, or a local stand-in in tests).
    telegram_api_base: str = "https://api.telegram.org"
    zalo_api_base: str = "https://openapi.zalo.me"
    smtp_host: str = "localhost"
    smtp_port: Port = 25
    smtp_from: str = "commune-pulse@localhost"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    # Monthly briefing (SPEC §9): the district's name in titles, the availability target under which a unit is
    # listed in "tồn tại, hạn chế", and the adoption target for units without one of their own (none: not listed).
    district_name: str = Field(default="huyện Hoằng Hóa", min_length=1, max_length=100)
    report_availability_target: float = Field(default=0.95, gt=0, le=1)
    report_adoption_target: float | None = Field(default=None, ge=0, le=1)
    # Where a report's link points (the dashboard's address as operators reach it), for channels without files.
    public_url: str = "http://127.0.0.1:8080"
    # Dashboard log-in (SPEC §10): a session lasts this long after the operator's last request
    session_idle_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # and ends this long after the log-in whatever the activity (issue 31): a duty shift, then log in again.
    session_max_hours: float = Field(default=24.0, gt=0, le=24 * 90)
    # None: Secure unless PULSE_PUBLIC_URL is on loopback (a dashboard reached over plain HTTP on a LAN sets false).
    cookie_secure: bool | None = None
    # Failed log-ins allowed per username and per client address in 15 minutes before 429; and wrong API tokens,
    # gateway tokens or app keys per client address (higher: behind a proxy many clients share one address).
    login_failures_per_15min: int = Field(default=10, ge=1, le=10_000)
    token_failures_per_15min: int = Field(default=300, ge=1, le=1_000_000)
    # The dashboard's files (default: dashboards/web beside the code; its node_modules come from `npm ci`).
    web_dir: Path | None = None
    # Where `pulse infra` keeps its data, logs and pid files, and where builds are cached.
    data_dir: Path = Path("var")
    cache_dir: Path = Path.home() / ".cache" / "commune-pulse"
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("database_url", "database_read_url", "api_database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not parts.path.strip("/"):
            raise ValueError("expected postgresql://user:password@host:port/database")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ValueError("expected postgresql://user:password@host:port/database") from exc
        return value

    @field_validator("kafka_bootstrap")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",")]
        if not servers or not all(_HOST_PORT.match(s) and 0 < int(s.rsplit(":", 1)[1]) < 65536 for s in servers):
            raise ValueError("expected host:port[,host:port…]")
        return ",".join(servers)

    @field_validator("kafka_sasl_password")
    @classmethod
    def _sasl_login(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("kafka_security_protocol") == "SASL_SSL" and (
            value is None or not info.data.get("kafka_sasl_username")
        ):
            raise ValueError("SASL_SSL needs PULSE_KAFKA_SASL_USERNAME and PULSE_KAFKA_SASL_PASSWORD")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("expected an IANA time zone such as Asia/Ho_Chi_Minh") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def session_cookie_secure(self) -> bool:
        """Whether the session cookie goes over HTTPS only (issue 31): as set, else unless the dashboard is served in
        clear on loopback (PULSE_PUBLIC_URL), where there is no network to protect it from."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        url = urlsplit(self.public_url)
        return url.scheme == "https" or url.hostname not in ("127.0.0.1", "::1", "localhost")

    @property
    def database_name(self) -> str:
        return urlsplit(self.database_url).path.strip("/")


_SECRET_FIELDS = (
    "pseudonym_key",
    "database_url",
    "database_read_url",
    "api_database_url",
    "prober_token",
    "smtp_password",
    "collector_token",
    "device_key",
    "device_key_previous",
    "grafana_db_password",
    "kafka_sasl_password",
)


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment (`overrides` win); raise ConfigError with one line."""
    known = {env_name(f) for f in Settings.model_fields}
    from_files: dict[str, object] = {}
    for name, raw in os.environ.items():
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        base = name.removesuffix("_FILE")
        if name.endswith("_FILE") and base in known:
            field = base[len(ENV_PREFIX) :].lower()
            if field not in _SECRET_FIELDS:
                raise ConfigError(f"configuration error: {name}: only secrets can be read from a file")
            try:
                from_files[field] = Path(raw).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"configuration error: {name}: cannot read {raw!r}: {exc.strerror}") from exc
        else:
            raise ConfigError(f"configuration error: {name}: unknown variable (see the README's configuration table)")
    try:
        return Settings(**{**from_files, **overrides})  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        shown = "<secret>" if field in _SECRET_FIELDS else repr(err.get("input"))
        message = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"configuration error: {env_name(field)}={shown}: {message}") from None
