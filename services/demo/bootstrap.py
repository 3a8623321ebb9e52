"""`pulse up --demo`: local infrastructure, schema, topics and a demo administrator, ready to log in.

The simulated 37-commune fleet joins this with the simulator issue; until then the demo is the real stack
with no data in it. The demo login gets a fresh random password on every start (printed, never stored
in clear).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from services.core import accounts, auth
from services.core.db import connect
from services.core.kafka import ensure_topics
from services.core.migrate import migrate
from services.core.settings import Settings
from services.infra.local import services

DEMO_USER = "admin"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    token: str


def prepare_demo(settings: Settings) -> DemoLogin:
    for service in services(settings):
        service.start()
    with connect(settings, autocommit=True) as conn:
        migrate(conn)
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
