"""A reference client for `POST /v1/events` (SPEC §7): what the HoangHoaS app does, in a few lines of Python.

The app team ports it to Kotlin/Swift/JS; the demo simulator uses it as is. What matters is the behaviour:
- every event gets its `event_id` and `created_at` (the device's clock) when it happens, and is written to an
  offline queue on disk before anything is sent — a crash or no network loses nothing;
- `flush` sends the oldest events in batches of at most 500 with `sent_at` = the device's clock now (the server
  removes the clock error with it), and deletes from the queue what the server answered for — accepted or
  rejected with a reason (a rejection is final; retrying cannot fix it);
- on a network error, `429` or `503` it keeps the batch and returns the delay to wait (`Retry-After`, else an
  exponential backoff); the retry carries the same event ids, so the server stores each event once;
- given several collectors' addresses, it sends to the one that answered last and to the next when that one
  cannot be reached or answers 502/503/504 (`services.core.failover`);
- `413` halves the batch; `400`/`401` are bugs or a revoked key: kept, reported, not retried in a loop.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from services.core.failover import Endpoints

log = logging.getLogger("pulse.app_client")
MAX_BATCH = 500


@dataclass(frozen=True)
class FlushResult:
    sent: int  # events the server answered for (accepted + rejected)
    accepted: int
    rejected: list[dict[str, Any]]
    retry_after_s: float | None  # set when the queue still holds events that should be retried later


class EventClient:
    def __init__(
        self,
        url: str | Sequence[str],
        app_key: str,
        queue_path: Path,
        *,
        install_id: str,
        platform: str = "android",
        app_version: str = "1.0.0",
        locale: str = "vi-VN",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.collectors = Endpoints(url)  # one collector, or several in turn when one cannot be reached
        self.app_key = app_key
        self.context = {"install_id": install_id, "platform": platform, "app_version": app_version, "locale": locale}
        self.clock = clock
        self.http = http or httpx.AsyncClient(timeout=15)
        self.batch = MAX_BATCH
        self.failures = 0
        self.db = sqlite3.connect(queue_path)
        self.db.execute("CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY, event TEXT NOT NULL)")
        self.db.commit()

    def track(
        self,
        event: str,
        *,
        unit_code: str | None = None,
        unit_set: str | None = None,
        user_id: str | None = None,
        **properties: Any,
    ) -> str:
        """Record an event now (queued on disk); returns its event_id. `unit_set`: the list `unit_code` is from,
        when it is not the collector's (an app updated for a reform names the new one)."""
        item: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "event": event,
            "created_at": self.clock().isoformat(),
            "properties": properties,
        }
        if unit_code is not None:
            item["unit_code"] = unit_code
        if unit_set is not None:
            item["unit_set"] = unit_set
        if user_id is not None:
            item["user_id"] = user_id
        self.db.execute("INSERT INTO queue (event) VALUES (?)", (json.dumps(item, ensure_ascii=False),))
        self.db.commit()
        return str(item["event_id"])

    def pending(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM queue").fetchone()[0])

    async def flush(self) -> FlushResult:
        """Send one batch of the oldest queued events."""
        rows = self.db.execute("SELECT seq, event FROM queue ORDER BY seq LIMIT ?", (self.batch,)).fetchall()
        if not rows:
            return FlushResult(0, 0, [], None)
        body = {
            "sent_at": self.clock().isoformat(),
            "context": self.context,
            "events": [json.loads(e) for _, e in rows],
        }
        try:
            response = await self.collectors.post(
                self.http, "/v1/events", json=body, headers={"X-App-Key": self.app_key}
            )
        except httpx.HTTPError as exc:
            log.info("events not sent (%s); kept for later", exc.__class__.__name__)
            return FlushResult(0, 0, [], self._backoff())
        if response.status_code == 200:
            answer = response.json()
            self.db.execute("DELETE FROM queue WHERE seq <= ?", (rows[-1][0],))
            self.db.commit()
            self.failures, self.batch = 0, MAX_BATCH
            return FlushResult(len(rows), answer["accepted"], answer["rejected"], None)
        if response.status_code == 413 and self.batch > 1:
            self.batch = max(1, self.batch // 2)
            return FlushResult(0, 0, [], 0.0)
        if response.status_code in (429, 503):
            retry = response.headers.get("Retry-After", "")
            return FlushResult(0, 0, [], float(retry) if retry.isdigit() else self._backoff())
        log.error("the collector refused the batch: %s %s", response.status_code, response.text[:200])
        return FlushResult(0, 0, [], self._backoff())

    async def flush_all(self) -> FlushResult:
        """Send everything queued, batch after batch; stops at the first batch that must wait."""
        sent = accepted = 0
        rejected: list[dict[str, Any]] = []
        while self.pending():
            result = await self.flush()
            sent, accepted, rejected = sent + result.sent, accepted + result.accepted, rejected + result.rejected
            if result.retry_after_s:
                return FlushResult(sent, accepted, rejected, result.retry_after_s)
        return FlushResult(sent, accepted, rejected, None)

    def _backoff(self) -> float:
        self.failures += 1
        return float(min(300, 2 ** min(self.failures, 9)))

    async def close(self) -> None:
        await self.http.aclose()
        self.db.close()
