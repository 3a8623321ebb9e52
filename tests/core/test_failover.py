"""Failing over between instances of a front door (services/core/failover.py): the decisions, over httpx's own
in-memory transport (the real gateways and the kill: tests/e2e/test_faults.py)."""

import httpx
import pytest

from services.core.failover import Endpoints


def transport(behaviour: dict[str, int | Exception], seen: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        outcome = behaviour[request.url.host]
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome)

    return httpx.MockTransport(handle)


async def post(endpoints: Endpoints, behaviour: dict[str, int | Exception], seen: list[str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport(behaviour, seen)) as http:
        return await endpoints.post(http, "/v1/heartbeats", json={})


async def test_an_unreachable_instance_is_skipped_and_the_one_that_answered_is_kept() -> None:
    endpoints, seen = Endpoints(["http://a", "http://b/"]), []
    down = httpx.ConnectError("refused")
    assert (await post(endpoints, {"a": down, "b": 202}, seen)).status_code == 202
    assert (await post(endpoints, {"a": 202, "b": 202}, seen)).status_code == 202
    assert seen == ["a", "b", "b"] and endpoints.current == 1  # sticks with b while b answers


async def test_unavailable_answers_move_on_but_a_refusal_does_not() -> None:
    endpoints, seen = Endpoints(["http://a", "http://b"]), []
    assert (await post(endpoints, {"a": 503, "b": 202}, seen)).status_code == 202
    assert (await post(endpoints, {"a": 202, "b": 400}, seen)).status_code == 400  # b's answer stands
    assert seen == ["a", "b", "b"]


async def test_each_instance_is_tried_once_then_the_last_answer_or_else_the_last_error_is_the_callers() -> None:
    seen: list[str] = []
    assert (await post(Endpoints(["http://a", "http://b"]), {"a": 503, "b": 504}, seen)).status_code == 504
    # an answer, even "unavailable" (with its Retry-After), says more than an error
    assert (
        await post(Endpoints(["http://a", "http://b"]), {"a": 503, "b": httpx.ConnectError("x")}, seen)
    ).status_code == 503
    with pytest.raises(httpx.ConnectError):
        await post(Endpoints(["http://a", "http://b"]), {"a": httpx.ReadError("x"), "b": httpx.ConnectError("x")}, seen)
    assert seen == ["a", "b", "a", "b", "a", "b"]
    with pytest.raises(ValueError):
        Endpoints([])
