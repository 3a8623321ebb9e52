"""Kafka names of this test session. Topics a session makes carry its mark, so that at its end it deletes its
own (tests/conftest.py) and never those of another pytest session using the same broker at the same time."""

from __future__ import annotations

import uuid

SESSION_MARK = uuid.uuid4().hex[:6]


def fresh_prefix() -> str:
    """A Kafka prefix of a test stack's own: `t` + 10 hex digits + `.`, the first six this session's mark."""
    return f"t{SESSION_MARK}{uuid.uuid4().hex[:4]}."
