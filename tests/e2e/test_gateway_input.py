"""Bad input at the gateway (SPEC §4): each case gets its documented status and reason, and the rest of a
batch is kept. Real HTTP to the gateway served by uvicorn, real Kafka behind it."""

import gzip
import json
from datetime import timedelta

import pytest

from tests.e2e.conftest import T
from tests.e2e.harness import Stack

pytestmark = [pytest.mark.db, pytest.mark.kafka]


def good(camera: str = "cam-1", seconds: float = 0) -> dict:
    return {"camera_id": camera, "ts": (T + timedelta(seconds=seconds)).isoformat()}


async def raw_post(stack: Stack, token: str, body: bytes, **headers: str):
    return await stack.http.post(
        f"{stack.gateway_url}/v1/heartbeats",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
    )


async def test_a_bad_or_missing_token_is_401(stack: Stack) -> None:
    stack.gateway("gw", "15865")
    assert (await stack.push("pgw_wrong", [good()])).status_code == 401
    response = await stack.http.post(f"{stack.gateway_url}/v1/heartbeats", json={"heartbeats": [good()]})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "body: not valid JSON"),
        (b"[1, 2]", "expected a JSON object with a 'heartbeats' list"),
        (b'{"heartbeats": {"camera_id": "x"}}', "expected a JSON object with a 'heartbeats' list"),
        (b'{"heartbeats": []}', "expected 1 to 1000 items, got 0"),
        (json.dumps({"heartbeats": [good()] * 1001}).encode(), "expected 1 to 1000 items, got 1001"),
    ],
)
async def test_a_malformed_body_is_400_with_nothing_accepted(stack: Stack, body: bytes, detail: str) -> None:
    token = stack.gateway("gw", "15865")
    response = await raw_post(stack, token, body)
    assert response.status_code == 400
    assert detail in response.json()["detail"]


async def test_a_body_over_one_mebibyte_is_413_plain_or_gzipped(stack: Stack) -> None:
    token = stack.gateway("gw", "15865")
    padding = {"camera_id": "cam-1", "ts": T.isoformat(), "metrics": {"fps": 1.0}}
    big = json.dumps({"heartbeats": [padding], "note": "x" * (1 << 20)}).encode()
    assert (await raw_post(stack, token, big)).status_code == 413
    bomb = gzip.compress(b'{"heartbeats": [], "x": "' + b"0" * (3 << 20) + b'"}')
    assert len(bomb) < 1 << 20
    assert (await raw_post(stack, token, bomb, **{"Content-Encoding": "gzip"})).status_code == 413


async def test_a_gzip_body_is_accepted(stack: Stack) -> None:
    token = stack.gateway("gw", "15865")
    body = gzip.compress(json.dumps({"heartbeats": [good("cam-1"), good("cam-2")]}).encode())
    response = await raw_post(stack, token, body, **{"Content-Encoding": "gzip"})
    assert response.status_code == 202 and response.json() == {"accepted": 2, "rejected": []}


async def test_each_bad_item_is_rejected_alone_with_its_reason(stack: Stack) -> None:
    token = stack.gateway("gw", "15865")
    stack.conn.execute("INSERT INTO cameras (camera_id, unit_set, unit_code) VALUES ('other-commune', '2024', '15877')")
    await stack.gateway_reload()
    items = [
        good("ok-1"),  # 0
        {"camera_id": "cam 2", "ts": T.isoformat()},  # 1: bad id
        {"camera_id": "cam-3", "ts": "yesterday"},  # 2: not RFC 3339
        {"camera_id": "cam-4", "ts": "2024-03-31T16:00:00"},  # 3: no offset
        {"camera_id": "cam-5", "ts": T.isoformat(), "status": "sleeping"},  # 4
        {"camera_id": "cam-6", "ts": T.isoformat(), "seq": "7"},  # 5: wrong type
        {"camera_id": "cam-7", "ts": T.isoformat(), "metrics": {"fps": -1}},  # 6
        {"camera_id": "cam-8", "ts": T.isoformat(), "colour": "blue"},  # 7: unknown field
        good("cam-9", 121),  # 8: 121 s ahead of the gateway clock
        good("cam-10", -7 * 86400 - 1),  # 9: older than 7 days
        good("other-commune"),  # 10: a camera of another unit
        "not an object",  # 11
        {"ts": T.isoformat()},  # 12: no camera_id
        good("ok-2", 120),  # 13: exactly 2 minutes ahead is allowed
    ]
    response = await stack.push(token, items)
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert set(reasons) == set(range(1, 13))
    assert reasons[1].startswith("invalid: camera_id:")
    assert reasons[2].startswith("invalid: ts:") and "RFC 3339" in reasons[2]
    assert reasons[3] == "invalid: ts: timestamp needs an offset (Z or ±hh:mm)"
    assert reasons[4].startswith("invalid: status:")
    assert reasons[5].startswith("invalid: seq:")
    assert reasons[6].startswith("invalid: metrics.fps:")
    assert reasons[7] == "unknown_field: colour"
    assert reasons[8] == "clock_skew: ts is 121 s ahead of the gateway clock"
    assert reasons[9] == "too_old: ts is more than 7 days old"
    assert reasons[10].startswith("out_of_scope: camera other-commune is in unit 15877")
    assert reasons[11] == "invalid: item: expected a JSON object"
    assert reasons[12] == "invalid: camera_id: required"
    await stack.settle(2)
    stored = {r["camera_id"] for r in stack.conn.execute("SELECT camera_id FROM heartbeats")}
    assert stored == {"ok-1", "ok-2"}
