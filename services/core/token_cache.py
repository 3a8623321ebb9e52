"""Secrets presented on every request (gateway tokens, app keys) resolved from memory by their hash.

An unknown secret may belong to something registered since the last load, so it triggers a reload of the whole
map — at most once a second and one at a time — and is then remembered as unknown for `miss_ttl_s`, so a stream
of bad secrets cannot turn every request into database queries. When the database is away the last copy keeps
serving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from services.core import auth

V = TypeVar("V")


class TokenCache(Generic[V]):
    def __init__(self, load: Callable[[], dict[str, V]], *, miss_ttl_s: float = 0.0) -> None:
        self._load = load  # blocking: token hash -> value, the whole map
        self.miss_ttl_s = miss_ttl_s
        self._values: dict[str, V] = {}
        self._misses: dict[str, float] = {}
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    def reload(self) -> None:
        """Load the whole map now (blocking; raises when the database is away)."""
        self._loaded_at = time.monotonic()
        self._values = self._load()
        self._misses.clear()

    async def lookup(self, secret: str | None) -> V | None:
        if not secret:
            return None
        digest = auth.hash_token(secret)
        value = self._values.get(digest)
        if value is not None:
            return value
        missed = self._misses.get(digest)
        if missed is not None and time.monotonic() - missed < self.miss_ttl_s:
            return None
        async with self._lock:
            if digest not in self._values:
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - self._loaded_at)))
                try:
                    await asyncio.to_thread(self.reload)
                except Exception:
                    pass
        value = self._values.get(digest)
        if value is None:
            self._misses[digest] = time.monotonic()
        return value
