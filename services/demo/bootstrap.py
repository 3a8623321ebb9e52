"""`pulse up --demo`: local infrastructure, schema, topics and a demo administrator, ready to log in.

The simulated 37-commune district (`services/demo/simulator.py`) runs beside the components. The demo login
gets a fresh random password on every start (printed, never stored in clear).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from pydantic import SecretStr

from services.core import accounts, auth, sealing
from services.core.db import connect
from services.core.kafka import ensure_topics
from services.core.migrate import migrate
from services.core.settings import Settings
from services.infra.local import start_all

DEMO_USER = "admin"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    token: str


def demo_keys(settings: Settings) -> Settings:
    """The demo's pseudonym key and secrets key, each generated once into <data_dir> (0600) and kept: a new
    pseudonym key would give every citizen a new pseudonym, a new secrets key would open none of the stored
    secrets. An explicit PULSE_PSEUDONYM_KEY or PULSE_DEVICE_KEY wins."""
    kept = {}
    for field, name in (("pseudonym_key", "pseudonym.key"), ("device_key", "secrets.key")):
        if getattr(settings, field) is not None:
            continue
        path = settings.data_dir / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        kept[field] = SecretStr(path.read_text().strip())
    return settings.model_copy(update=kept)


def prepare_demo(settings: Settings) -> DemoLogin:
    start_all(settings)
    with connect(settings, autocommit=True) as conn:
        migrate(conn, timezone=settings.timezone, keys=sealing.keyring(settings))
        password = secrets.token_urlsafe(9)
        updated = conn.execute(
            "UPDATE operators SET password_hash = %s, disabled_at = NULL WHERE username = %s",
            (auth.hash_password(password), DEMO_USER),
        ).rowcount
        if not updated:
            accounts.create_operator(
                conn, username=DEMO_USER, role="admin", unit_set=settings.unit_set, unit_codes=[], password=password
            )
        token = accounts.create_api_token(conn, username=DEMO_USER, label="demo")
    asyncio.run(ensure_topics(settings))
    return DemoLogin(DEMO_USER, password, token)
