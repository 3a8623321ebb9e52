"""Devices in the database (SPEC §4 "Devices"): what `pulse devices add|list|remove` and the API do.

A device's password or cloud secret must be usable again — the gateway logs in with it — so it cannot be hashed
like a token: it is sealed under PULSE_DEVICE_KEY as every secret at rest is (services/core/sealing.py). Nothing
here returns, logs or prints it; listings
carry no secret and no push token (a push token is shown once, when it is made, and only its hash is stored).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from services.core import auth, sealing
from services.core.db import DbConn
from services.core.settings import Settings

KINDS = ("hikvision", "dahua", "onvif", "ezviz", "imou")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,40}$")
CHANNEL_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Per-device settings an operator may give (`--option KEY=VALUE`), with their bounds.
OPTIONS: dict[str, tuple[type, float, float]] = {
    "heartbeat_s": (int, 1, 300),  # Dahua: the heartbeat period asked of the device
    "stall_s": (float, 1, 3600),  # no byte from a device for this long = it stalled
    "poll_s": (float, 5, 3600),  # polls: NVR channel status, ONVIF liveness, clouds
    "nvr": (bool, 0, 1),  # Hikvision: also poll the NVR's channel status
    "ip_channel_offset": (int, 0, 256),  # Hikvision NVRs: alerts number IP channels from 33; 32 rebases them
    "adjust_time": (bool, 0, 1),  # ONVIF: correct for the device's clock offset in WS-Security
    "subscription_s": (float, 60, 86_400),  # ONVIF PullPoint subscription length
    "pull_timeout_s": (float, 1, 600),  # ONVIF PullMessages timeout
}


class DeviceSetupError(ValueError):
    """Bad input for a device; the message names the option."""


def _keys(settings: Settings) -> sealing.Keyring:
    try:
        return sealing.keyring(settings)
    except sealing.SealingError as exc:
        raise DeviceSetupError(str(exc)) from None


def unseal(settings: Settings, sealed: bytes) -> str:
    try:
        return _keys(settings).unseal(sealed, "a device secret")
    except sealing.SealingError as exc:
        raise DeviceSetupError(str(exc)) from None


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeviceSetupError("--url: expected http://host[:port] or https://… (the device or the cloud API)")
    if parts.username or parts.password:
        raise DeviceSetupError("--url: no user name or password in the URL; use --username and standard input")
    if parts.query or parts.fragment:
        raise DeviceSetupError("--url: no query or fragment; give the device's base address")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise DeviceSetupError("--url: bad port") from None
    return url.rstrip("/")


def parse_channels(pairs: list[str]) -> dict[str, str]:
    """`--channel 2=HH-BS-014` → {"2": "HH-BS-014"}."""
    channels: dict[str, str] = {}
    for pair in pairs:
        channel, sep, camera = pair.partition("=")
        channel, camera = channel.strip(), camera.strip()
        if not sep or not CHANNEL_PATTERN.match(channel) or not CHANNEL_PATTERN.match(camera):
            raise DeviceSetupError(f"--channel {pair!r}: expected CHANNEL=CAMERA_ID, e.g. 2=HH-BS-014")
        if channel in channels:
            raise DeviceSetupError(f"--channel: channel {channel} mapped twice")
        channels[channel] = camera
    if len(set(channels.values())) != len(channels):
        raise DeviceSetupError("--channel: one camera id mapped to two channels")
    return channels


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """`--option stall_s=30` → {"stall_s": 30.0}, each checked against OPTIONS."""
    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or name not in OPTIONS:
            raise DeviceSetupError(f"--option {pair!r}: expected KEY=VALUE with KEY one of {', '.join(OPTIONS)}")
        kind, low, high = OPTIONS[name]
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise DeviceSetupError(f"--option {name}: expected true or false")
            options[name] = raw.lower() in ("true", "1", "yes")
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise DeviceSetupError(f"--option {name}: expected a number") from None
        if not low <= value <= high:
            raise DeviceSetupError(f"--option {name}: expected {low:g} to {high:g}")
        options[name] = value
    return options


def add_device(
    conn: DbConn,
    settings: Settings,
    *,
    kind: str,
    name: str,
    unit_set: str,
    unit_code: str,
    url: str,
    username: str,
    secret: str,
    channels: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    push: bool = False,
) -> str | None:
    """Store a device; returns its push token when `push` (shown once), else None."""
    if kind not in KINDS:
        raise DeviceSetupError(f"--kind: expected one of {', '.join(KINDS)}")
    if not NAME_PATTERN.match(name):
        raise DeviceSetupError("--name: 1 to 40 of A-Z a-z 0-9 . _ : - (camera ids are made from it)")
    if not secret:
        raise DeviceSetupError("password: empty (give it on standard input or with --password-file)")
    if not username:
        raise DeviceSetupError("--username: empty")
    url = check_url(url)
    sealed = _keys(settings).seal(secret)
    if conn.execute("SELECT 1 FROM units WHERE unit_set = %s AND code = %s", (unit_set, unit_code)).fetchone() is None:
        raise DeviceSetupError(f"--unit: no unit {unit_code} in set {unit_set}")
    token = auth.new_token("device") if push else None
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO devices (name, kind, unit_set, unit_code, url, username, secret_enc, push_token_hash, options)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING device_id",
            (
                name,
                kind,
                unit_set,
                unit_code,
                url,
                username,
                sealed,
                token and auth.hash_token(token),
                json.dumps(dict(options or {})),
            ),
        ).fetchone()
        if row is None:
            raise DeviceSetupError(f"--name: a device named {name!r} exists already")
        for channel, camera_id in (channels or {}).items():
            taken = conn.execute(
                "SELECT d.name FROM device_channels c JOIN devices d USING (device_id) WHERE c.camera_id = %s",
                (camera_id,),
            ).fetchone()
            if taken is not None:
                raise DeviceSetupError(
                    f"--channel {channel}={camera_id}: camera mapped already on device {taken['name']}"
                )
            conn.execute(
                "INSERT INTO device_channels (device_id, channel, camera_id) VALUES (%s, %s, %s)",
                (row["device_id"], channel, camera_id),
            )
    return token


def remove_device(conn: DbConn, name: str) -> None:
    """Forget a device (its cameras and their history stay)."""
    if conn.execute("DELETE FROM devices WHERE name = %s RETURNING device_id", (name,)).fetchone() is None:
        raise DeviceSetupError(f"--name: no device named {name!r}")


def list_devices(conn: DbConn, *, units: list[auth.UnitKey] | None = None) -> list[dict[str, Any]]:
    """Every device (or those of `units`) with its connection state and channels; never a secret."""
    rows = conn.execute(
        "SELECT d.device_id, d.name, d.kind, d.unit_set, d.unit_code, u.name AS unit_name, d.url, d.username,"
        " d.push_token_hash IS NOT NULL AS pushes, d.state, d.state_since, d.last_error, d.last_seen_at,"
        " coalesce((SELECT jsonb_object_agg(c.channel, c.camera_id) FROM device_channels c"
        "           WHERE c.device_id = d.device_id), '{}') AS channels"
        " FROM devices d JOIN units u ON u.unit_set = d.unit_set AND u.code = d.unit_code"
        " WHERE %s::text[] IS NULL OR (d.unit_set || '/' || d.unit_code) = ANY(%s::text[])"
        " ORDER BY d.unit_code, d.name",
        (None if units is None else [f"{s}/{c}" for s, c in units],) * 2,
    ).fetchall()
    return rows


def device_secret(conn: DbConn, settings: Settings, name: str) -> tuple[dict[str, Any], str]:
    """A device's row and its decrypted secret, for the gateway and `pulse devices test` only."""
    row = conn.execute(
        "SELECT device_id, name, kind, unit_set, unit_code, url, username, secret_enc, options,"
        " coalesce((SELECT jsonb_object_agg(c.channel, c.camera_id) FROM device_channels c"
        "           WHERE c.device_id = d.device_id), '{}') AS channels"
        " FROM devices d WHERE name = %s",
        (name,),
    ).fetchone()
    if row is None:
        raise DeviceSetupError(f"--name: no device named {name!r}")
    return row, unseal(settings, row.pop("secret_enc"))
