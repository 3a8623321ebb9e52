"""Secrets at rest (issue 31): what the product must use again is stored sealed, never in clear — a device's
password or cloud secret (the collector logs in with it), a notification channel's token or signing key (the
alerts engine sends with it), a camera's stream URL (the prober opens it; RTSP URLs carry a password).

One key seals them all: PULSE_DEVICE_KEY (best given as PULSE_DEVICE_KEY_FILE), from which a Fernet key is derived
(AES-128-CBC + HMAC-SHA256, `cryptography`). PULSE_DEVICE_KEY_PREVIOUS holds the keys it replaced while a rotation
is under way: values sealed under any of them are read (MultiFernet), new ones are sealed under the current key,
and `pulse keys rotate` re-seals every stored value under it (docs/operations.md "Security").

Only the component that uses a secret unseals it: the collector (and `pulse devices test`), the alerts engine, the
prober. A stream URL is also stored as a keyed digest (HMAC-SHA256 under a key derived from the current key), so an
import tells an unchanged URL from a new one without decrypting anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.core.db import DbConn
from services.core.settings import Settings

KEY_HELP = "set PULSE_DEVICE_KEY_FILE (or PULSE_DEVICE_KEY): secrets are stored encrypted under it"
MIN_KEY_CHARS = 32


class SealingError(ValueError):
    """No key, a key too short, or a value no configured key opens; the message names the setting."""


def _fernet(key: str) -> Fernet:
    # Any long random text works as the key: the Fernet key is derived from it.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"pulse-device-key:" + key.encode()).digest()))


@dataclass(frozen=True)
class Keyring:
    """The current key and the ones it replaced."""

    current: Fernet
    every: MultiFernet  # the current key first: seals with it, opens with any
    digest_key: bytes

    @classmethod
    def of(cls, current: str, previous: tuple[str, ...] = ()) -> Keyring:
        for name, key in [("PULSE_DEVICE_KEY", current), *(("PULSE_DEVICE_KEY_PREVIOUS", k) for k in previous)]:
            if len(key) < MIN_KEY_CHARS:
                raise SealingError(f"{name}: at least {MIN_KEY_CHARS} characters (e.g. `openssl rand -base64 32`)")
        fernet = _fernet(current)
        digest_key = hashlib.sha256(b"pulse-digest-key:" + current.encode()).digest()
        return cls(fernet, MultiFernet([fernet, *map(_fernet, previous)]), digest_key)

    def seal(self, secret: str) -> bytes:
        return self.every.encrypt(secret.encode())

    def unseal(self, sealed: bytes, what: str = "a secret") -> str:
        try:
            return self.every.decrypt(bytes(sealed)).decode()
        except InvalidToken:
            raise SealingError(
                f"{what} cannot be decrypted: it was sealed under a key that is neither PULSE_DEVICE_KEY nor one"
                " of PULSE_DEVICE_KEY_PREVIOUS"
            ) from None

    def reseal(self, sealed: bytes) -> bytes:
        """The same secret sealed under the current key (InvalidToken when no key opens it)."""
        return self.every.rotate(bytes(sealed))

    def under_current(self, sealed: bytes) -> bool:
        try:
            self.current.decrypt(bytes(sealed))
        except InvalidToken:
            return False
        return True

    def digest(self, secret: str) -> bytes:
        return hmac.new(self.digest_key, secret.encode(), hashlib.sha256).digest()


def keyring(settings: Settings) -> Keyring:
    if settings.device_key is None:
        raise SealingError(KEY_HELP)
    previous = settings.device_key_previous.get_secret_value() if settings.device_key_previous else ""
    return Keyring.of(settings.device_key.get_secret_value(), tuple(k for k in re.split(r"[\s,]+", previous) if k))


def keyring_or_none(settings: Settings) -> Keyring | None:
    return keyring(settings) if settings.device_key is not None else None


# --- what is stored sealed, and its rotation -----------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """A column of sealed values: its table, the table's key, and the digest column kept beside it (if any)."""

    kind: str  # as `pulse keys` names it
    table: str
    key: str
    column: str
    digest: str | None = None


SEALED = (
    Sealed("device secrets", "devices", "device_id", "secret_enc"),
    Sealed("channel secrets", "channels", "channel_id", "secret_enc"),
    Sealed("stream URLs", "cameras", "camera_id", "stream_url_enc", "stream_url_digest"),
)
BATCH = 1000


@dataclass
class Count:
    kind: str
    current: int = 0  # sealed under the current key (after `rotate`: those it re-sealed too)
    previous: int = 0  # under a key of PULSE_DEVICE_KEY_PREVIOUS (`rotate` leaves none but those changed meanwhile)
    resealed: int = 0
    unreadable: int = 0  # no configured key opens it


def _batches(conn: DbConn, s: Sealed) -> Iterator[list[dict]]:
    """Every sealed value of `s`, a batch at a time in key order (each batch its own short read)."""
    after = None
    while True:
        rows = conn.execute(
            f"SELECT {s.key} AS id, {s.column} AS sealed FROM {s.table}"  # noqa: S608 - names from SEALED only
            f" WHERE {s.column} IS NOT NULL AND (%(after)s::text IS NULL OR {s.key}::text > %(after)s)"
            f" ORDER BY {s.key}::text LIMIT %(n)s",
            {"after": after, "n": BATCH},
        ).fetchall()
        if not rows:
            return
        yield rows
        after = str(rows[-1]["id"])


def _standing(keys: Keyring, sealed: bytes) -> tuple[str, bytes | None]:
    """How a stored value stands: under the current key, under a previous one (with its secret, to re-seal), or
    under no key given."""
    if keys.under_current(sealed):
        return "current", None
    try:
        return "previous", keys.every.decrypt(bytes(sealed))
    except InvalidToken:
        return "unreadable", None


def check(conn: DbConn, keys: Keyring) -> list[Count]:
    """How many stored values are sealed under the current key, under a previous one, and under none given."""
    counts = []
    for s in SEALED:
        count = Count(s.kind)
        for rows in _batches(conn, s):
            for r in rows:
                standing, _ = _standing(keys, r["sealed"])
                setattr(count, standing, getattr(count, standing) + 1)
        counts.append(count)
    return counts


def rotate(conn: DbConn, keys: Keyring) -> list[Count]:
    """Re-seal every stored value that is not under the current key yet, a batch per transaction (nothing is locked
    for long: components keep running). A value changed meanwhile is left alone: whoever changed it sealed it under
    the current key. A value no key opens is counted, not touched."""
    counts = []
    for s in SEALED:
        count = Count(s.kind)
        for rows in _batches(conn, s):
            changes = []
            for r in rows:
                standing, plain = _standing(keys, r["sealed"])
                if plain is None:
                    setattr(count, standing, getattr(count, standing) + 1)
                    continue
                digest = keys.digest(plain.decode()) if s.digest else None
                changes.append((keys.current.encrypt(plain), digest, r["id"], r["sealed"]))
            if not changes:
                continue
            with conn.transaction(), conn.cursor() as cur:
                digest_set = f", {s.digest} = %s" if s.digest else ""
                cur.executemany(
                    f"UPDATE {s.table} SET {s.column} = %s{digest_set}"  # noqa: S608 - names from SEALED only
                    f" WHERE {s.key} = %s AND {s.column} = %s",
                    [(new, digest, id_, old) if s.digest else (new, id_, old) for new, digest, id_, old in changes],
                )
                done = cur.rowcount
            count.resealed += done
            count.previous += len(changes) - done  # changed meanwhile: `check` says how they stand now
        count.current += count.resealed
        counts.append(count)
    return counts
