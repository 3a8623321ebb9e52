"""Delivering one notification to one channel (SPEC §6). The only network I/O of the alerts service.

- `webhook`: JSON POST of the payload, `X-Pulse-Signature` = hex HMAC-SHA256 of the exact body under the
  channel's secret, and `Idempotency-Key`;
- `telegram`: Bot API `sendMessage` at `PULSE_TELEGRAM_API_BASE`, the channel's secret being the bot token and
  its target the chat id;
- `zalo`: Zalo Official Account API `v3.0/oa/message/cs` at `PULSE_ZALO_API_BASE`, secret = OA access token,
  target = the follower's user id;
- `email`: SMTP (`PULSE_SMTP_*`), UTF-8 subject and body, the idempotency key in the Message-ID.
A failure raises `DeliveryError` with a short reason (never the secret); the caller retries with backoff. A channel's
secret is stored sealed (services/core/sealing.py) and unsealed by the outbox for each delivery.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx

from services.core import sealing
from services.core.settings import Settings


class DeliveryError(Exception):
    pass


@dataclass(frozen=True)
class Channel:
    channel_id: int
    kind: str
    target: str
    secret: str | None
    lang: str


@dataclass(frozen=True)
class Outgoing:
    idempotency_key: str
    subject: str
    body: str
    payload: dict[str, Any]
    # (file name, content type, data): the monthly report's files, sent by e-mail only.
    attachments: tuple[tuple[str, str, bytes], ...] = ()


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(http: httpx.AsyncClient, settings: Settings, channel: Channel, message: Outgoing) -> None:
    try:
        if channel.kind == "webhook":
            body = json.dumps(message.payload, ensure_ascii=False).encode()
            headers = {"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key}
            if channel.secret:
                headers["X-Pulse-Signature"] = sign(channel.secret, body)
            _check(await http.post(channel.target, content=body, headers=headers))
        elif channel.kind == "telegram":
            url = f"{settings.telegram_api_base.rstrip('/')}/bot{channel.secret}/sendMessage"
            answer = _check(await http.post(url, json={"chat_id": channel.target, "text": message.body}))
            if not answer.get("ok", False):
                raise DeliveryError(f"telegram refused: {str(answer.get('description'))[:200]}")
        elif channel.kind == "zalo":
            url = f"{settings.zalo_api_base.rstrip('/')}/v3.0/oa/message/cs"
            body_json = {"recipient": {"user_id": channel.target}, "message": {"text": message.body}}
            answer = _check(await http.post(url, json=body_json, headers={"access_token": channel.secret or ""}))
            if answer.get("error", 0) != 0:
                raise DeliveryError(f"zalo refused: {answer.get('error')} {str(answer.get('message'))[:200]}")
        elif channel.kind == "email":
            await asyncio.to_thread(_send_mail, settings, channel.target, message)
        else:
            raise DeliveryError(f"unknown channel kind {channel.kind!r}")
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{exc.__class__.__name__}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"smtp: {exc.__class__.__name__}: {str(exc)[:200]}") from None


def _check(response: httpx.Response) -> dict[str, Any]:
    if not response.is_success:
        raise DeliveryError(f"HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _send_mail(settings: Settings, to: str, message: Outgoing) -> None:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = settings.smtp_from
    mail["To"] = to
    mail["Message-ID"] = make_msgid(idstring=message.idempotency_key[:32], domain="commune-pulse")
    mail.set_content(message.body)
    for name, content_type, data in message.attachments:
        maintype, subtype = content_type.split(";")[0].split("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user and settings.smtp_password:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(mail)


# --- storage -------------------------------------------------------------------------------------------------

KINDS = ("webhook", "telegram", "email", "zalo")


def add_channel(
    conn: Any,
    *,
    kind: str,
    target: str,
    secret: str | None = None,
    unit_set: str | None = None,
    unit_codes: list[str] | None = None,
    lang: str = "vi",
    wants_reports: bool = False,
    keys: sealing.Keyring | None = None,
) -> int:
    """Store a channel; its secret sealed under `keys` (PULSE_DEVICE_KEY's), which a secret needs."""
    if kind not in KINDS:
        raise ValueError(f"kind: one of {', '.join(KINDS)}")
    if kind == "webhook" and not target.startswith(("http://", "https://")):
        raise ValueError("target: a webhook target is an http(s) URL")
    if kind == "email" and "@" not in target:
        raise ValueError("target: an e-mail address")
    if kind in ("telegram", "zalo") and not secret:
        raise ValueError(f"secret: a {kind} channel needs its token")
    if lang not in ("vi", "en"):
        raise ValueError("lang: vi or en")
    for code in unit_codes or []:
        if conn.execute("SELECT 1 FROM units WHERE unit_set = %s AND code = %s", (unit_set, code)).fetchone() is None:
            raise ValueError(f"unit: no unit {code} in set {unit_set}")
    if secret and keys is None:
        raise ValueError(f"secret: {sealing.KEY_HELP}")
    sealed = keys.seal(secret) if secret and keys else None
    row = conn.execute(
        "INSERT INTO channels (kind, target, secret_enc, lang, unit_set, unit_codes, wants_reports)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING channel_id",
        (kind, target, sealed, lang, unit_set if unit_codes else None, list(unit_codes or []), wants_reports),
    ).fetchone()
    return int(row["channel_id"])


def list_channels(conn: Any) -> list[dict]:
    """Channels without their secrets."""
    return conn.execute(
        "SELECT channel_id, kind, target, lang, unit_set, unit_codes, created_at, disabled_at, wants_reports,"
        " secret_enc IS NOT NULL AS has_secret FROM channels ORDER BY channel_id"
    ).fetchall()


def disable_channel(conn: Any, channel_id: int) -> bool:
    return (
        conn.execute(
            "UPDATE channels SET disabled_at = now() WHERE channel_id = %s AND disabled_at IS NULL", (channel_id,)
        ).rowcount
        > 0
    )
