"""The outbox's sending side (SPEC §6 "Exactly once"): `deliver_due` sends the notifications a tick queued, oldest
first, each at least once with its idempotency key; a failure is retried with backoff (2^attempts s, at most
10 min) and given up after MAX_ATTEMPTS. The engine (engine.py) decides and queues; this only delivers.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

import httpx
from prometheus_client import Counter

from services.alerts.channels import Channel, DeliveryError, Outgoing, deliver
from services.core import sealing
from services.core.db import DbConn
from services.core.settings import Settings

log = logging.getLogger("pulse.alerts")
SENT = Counter("pulse_alerts_notifications_sent_total", "Notifications delivered", ["kind"])
FAILURES = Counter("pulse_alerts_notification_failures_total", "Failed delivery attempts", ["kind"])
MAX_ATTEMPTS = 20


async def deliver_due(conn: DbConn, http: httpx.AsyncClient, settings: Settings, now: datetime, limit: int = 50) -> int:
    """Send the outbox rows that are due, oldest first; returns how many were delivered."""
    rows = conn.execute(
        """
        SELECT n.*, c.kind AS channel_kind, c.target, c.secret_enc, c.lang FROM notifications n
        JOIN channels c USING (channel_id)
        WHERE n.status = 'pending' AND n.next_attempt_at <= %s AND c.disabled_at IS NULL
        ORDER BY n.notification_id LIMIT %s
        """,
        (now, limit),
    ).fetchall()
    sent = 0
    for r in rows:
        channel = Channel(r["channel_id"], r["channel_kind"], r["target"], None, r["lang"])
        message = Outgoing(r["idempotency_key"], r["subject"], r["body"], r["payload"])
        if r["event"] == "report" and channel.kind == "email":
            message = replace(message, attachments=tuple(_report_files(conn, r["payload"]["report_id"])))
        try:
            secret = _secret(settings, r["secret_enc"], channel.channel_id)
            await deliver(http, settings, replace(channel, secret=secret), message)
        except DeliveryError as exc:
            attempts = r["attempts"] + 1
            FAILURES.labels(channel.kind).inc()
            log.warning(
                "notification %s to %s channel %s failed (%s)",
                r["notification_id"],
                channel.kind,
                channel.channel_id,
                exc,
            )
            conn.execute(
                "UPDATE notifications SET attempts = %s, last_error = %s, next_attempt_at = %s, status = %s"
                " WHERE notification_id = %s",
                (
                    attempts,
                    str(exc)[:500],
                    now + timedelta(seconds=min(600, 2 ** min(attempts, 10))),
                    "failed" if attempts >= MAX_ATTEMPTS else "pending",
                    r["notification_id"],
                ),
            )
            continue
        conn.execute(
            "UPDATE notifications SET status = 'sent', sent_at = %s, attempts = attempts + 1"
            " WHERE notification_id = %s",
            (now, r["notification_id"]),
        )
        SENT.labels(channel.kind).inc()
        sent += 1
    return sent


def _secret(settings: Settings, sealed: bytes | None, channel_id: int) -> str | None:
    """The channel's secret, unsealed here only, for this one delivery (services/core/sealing.py)."""
    if sealed is None:
        return None
    try:
        return sealing.keyring(settings).unseal(sealed, f"channel {channel_id}'s secret")
    except sealing.SealingError as exc:
        raise DeliveryError(str(exc)) from None


def _report_files(conn: DbConn, report_id: int) -> list[tuple[str, str, bytes]]:
    """The kept monthly report's files, rendered from the figures it was issued with."""
    from services.reports import issue

    found = issue.kept(conn, report_id)
    return [] if found is None else issue.attachments(*found)
