"""Several instances of a front door (gateways, collectors) behind one address list, as clients see them: each
request goes to the instance that answered last, and to the next one when it cannot be reached or says it is
unavailable (502, 503, 504) — each instance tried at most once per request. A request that was sent but not
answered may have been acted on: retrying it elsewhere can deliver it twice, which the pipeline stores once
(heartbeats by camera and time, events by id)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

UNAVAILABLE = frozenset({502, 503, 504})


class Endpoints:
    def __init__(self, base_urls: str | Sequence[str]) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise ValueError("at least one address")
        self.urls = [url.rstrip("/") for url in urls]
        self.current = 0

    async def post(self, http: httpx.AsyncClient, path: str, **kwargs: Any) -> httpx.Response:
        """POST `path` to the current instance, failing over as the module says; the last answer, or the last
        error when none answered."""
        error: httpx.TransportError | None = None
        response: httpx.Response | None = None
        for attempt in range(len(self.urls)):
            index = (self.current + attempt) % len(self.urls)
            try:
                response = await http.post(self.urls[index] + path, **kwargs)
            except httpx.TransportError as exc:
                error = exc
                continue
            if response.status_code not in UNAVAILABLE:
                self.current = index
                return response
        if response is not None:
            return response
        assert error is not None
        raise error
