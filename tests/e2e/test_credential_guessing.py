"""Guessing secrets is limited (issue 10: "token brute-force limited"): wrong API tokens, gateway tokens and app
keys from one address are answered 401 until the limit, then 429 with Retry-After — even for a right secret
from that address — while other addresses are not affected. Real HTTP to each service."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tests.e2e.harness import Stack, start_stack

pytestmark = [pytest.mark.db, pytest.mark.kafka]
LIMIT = 3


@pytest.fixture
async def guarded(settings, conn, tmp_path, clock):
    stack = await start_stack(
        settings,
        conn,
        tmp_path,
        clock,
        token_failures_per_15min=LIMIT,
        pseudonym_key=SecretStr("guessing-test-pseudonym-key-0123"),
    )
    try:
        yield stack
    finally:
        await stack.close()


async def _guesses(send, right) -> list[int]:
    codes = [(await send(f"wrong-{i}")).status_code for i in range(LIMIT)]
    blocked = await send(right)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0, blocked.text
    return codes


async def test_wrong_api_tokens_are_limited(guarded: Stack) -> None:
    url = f"{guarded.api_url}/api/v1/me"

    async def send(token: str):
        return await guarded.http.get(url, headers={"Authorization": f"Bearer {token}"})

    assert (await send(guarded.admin_token)).status_code == 200
    assert await _guesses(send, guarded.admin_token) == [401] * LIMIT


async def test_wrong_gateway_tokens_are_limited(guarded: Stack) -> None:
    token = guarded.gateway("gw", "15865")

    async def send(secret: str):
        return await guarded.keepalive(secret)

    assert (await send(token)).status_code == 202
    assert await _guesses(send, token) == [401] * LIMIT


async def test_wrong_app_keys_are_limited(guarded: Stack) -> None:
    body = {
        "context": {"install_id": "00000000-0000-0000-0000-000000000001", "platform": "web", "app_version": "1"},
        "events": [
            {
                "event_id": "00000000-0000-0000-0000-000000000002",
                "event": "app_open",
                "created_at": guarded.clock.now.isoformat(),
            }
        ],
    }

    async def send(key: str):
        return await guarded.http.post(f"{guarded.collector_url}/v1/events", json=body, headers={"X-App-Key": key})

    assert (await send(guarded.app_key)).status_code == 200
    assert await _guesses(send, guarded.app_key) == [401] * LIMIT
