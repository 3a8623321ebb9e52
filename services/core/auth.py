"""Who may do what: tokens, passwords, roles and unit scoping (SPEC §3). Pure; no I/O here.

Tokens (gateway tokens, operators' API tokens, app keys) are 256-bit random strings, stored only as their
SHA-256: with that much entropy a fast hash is enough and lets us find the row by its hash. Passwords are
chosen by people, so they get argon2id (argon2-cffi) instead.

Roles, from the province down (issue 18): `admin` does everything and `viewer` reads everything — the province's
administrator and viewer; `district` reads and acknowledges in one former district's units; `commune` reads and
acknowledges only its own units — a xã's operator holds its 2025 unit. Scoped operators (commune, district) hold
units; `visible_units` extends them to every set through the mapping: the finer units inside a held unit, and a
coarser unit only when every unit inside it is held (so a commune operator never sees a 2025 figure that mixes in
other communes). A district operator holds, in each set, the units of its district (services/core/accounts.py).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

Role = Literal["admin", "viewer", "commune", "district"]
ROLES: tuple[Role, ...] = ("admin", "viewer", "commune", "district")
SCOPED_ROLES: tuple[Role, ...] = ("commune", "district")  # see and act on their own units only
UnitKey = tuple[str, str]  # (unit_set, code)

TOKEN_PREFIXES = {"gateway": "pgw_", "operator": "pat_", "app": "pak_", "session": "pss_", "device": "pdv_"}
_hasher = PasswordHasher()


def new_token(kind: str) -> str:
    return TOKEN_PREFIXES[kind] + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """The CSRF token of a session: derived from the session id one way, so it is never stored and never reveals
    the id. A page reads it from `/api/v1/me` (same origin only) and sends it as `X-CSRF-Token` on changes."""
    return hashlib.sha256(b"csrf:" + session_id.encode()).hexdigest()


MIN_PASSWORD = 12
# zxcvbn's score (0–4) below which a password is refused: it matches the common and breached password lists the
# package ships (30,000 passwords), dictionaries, keyboard walks, repeats and dates, and the user's own name.
MIN_PASSWORD_SCORE = 3


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password may not be chosen (issue 31), or None: at least MIN_PASSWORD characters, and not easy to guess
    by zxcvbn (common and breached passwords, words, keyboard patterns, the username)."""
    if len(password) < MIN_PASSWORD:
        return f"password: at least {MIN_PASSWORD} characters (a few words make a good one)"
    verdict = zxcvbn(password[:100], user_inputs=[username] if username else [])
    if verdict["score"] < MIN_PASSWORD_SCORE:
        said = verdict["feedback"]["warning"] or "it follows a pattern that is guessed early"
        return (
            f"password: too easy to guess ({said.rstrip('.')}): common or breached passwords, words, keyboard"
            " patterns, repeats and the username are refused"
        )
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def visible_units(held: Iterable[UnitKey], mapping: Mapping[UnitKey, UnitKey]) -> frozenset[UnitKey]:
    children: dict[UnitKey, set[UnitKey]] = {}
    for child, parent in mapping.items():
        children.setdefault(parent, set()).add(child)
    visible = set(held)
    changed = True
    while changed:
        changed = False
        for unit in list(visible):  # finer units inside a visible unit
            for child in children.get(unit, ()):
                if child not in visible:
                    visible.add(child)
                    changed = True
        for parent, kids in children.items():  # a coarser unit only when all of it is visible
            if parent not in visible and kids <= visible:
                visible.add(parent)
                changed = True
    return frozenset(visible)


@dataclass(frozen=True)
class Principal:
    operator_id: int
    username: str
    role: Role
    # None: every unit (admin, viewer); otherwise (commune, district) the units this operator may see, in every set.
    units: frozenset[UnitKey] | None
    token_id: int | None = None  # the API token it came with (None: a dashboard session)
    read_only: bool = False  # a read-only token: reads only, whatever the role

    def can_read_unit(self, unit_set: str, code: str) -> bool:
        return self.units is None or (unit_set, code) in self.units

    def can_act_on_unit(self, unit_set: str, code: str) -> bool:
        """Acknowledge an incident and the like: admin anywhere, commune and district operators in their units."""
        if self.role == "admin":
            return True
        return self.role in SCOPED_ROLES and self.can_read_unit(unit_set, code)

    def unit_codes(self, unit_set: str) -> list[str] | None:
        """Codes visible in one set, for SQL filters; None means no filter."""
        if self.units is None:
            return None
        return sorted(code for s, code in self.units if s == unit_set)
