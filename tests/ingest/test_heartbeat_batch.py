"""The writer's pure summaries of a batch: per camera (first, latest) and per gateway (watermark). No I/O."""

from datetime import UTC, datetime, timedelta

from services.ingest.heartbeat_writer import by_camera, summarize, watermarks
from services.ingest.heartbeats import HeartbeatRow, KeepAlive

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def row(camera: str, s: float, *, gateway: int = 1, status: str = "ok", received: float | None = None, unit="15865"):
    state = {"ok": "up", "degraded": "degraded", "down": "down"}[status]
    received_at = at(s + 1 if received is None else received)
    return HeartbeatRow(camera, at(s), status, state, None, None, None, gateway, "2024", unit, received_at)


def test_each_camera_gets_its_first_and_latest_heartbeat_whatever_the_order() -> None:
    rows = [
        row("a", 120),
        row("b", 60, gateway=2, unit="15866"),
        row("a", 0, unit="first-unit"),
        row("a", 180, status="down", gateway=3),
        row("a", 60),
    ]
    summaries = {c.camera_id: c for c in summarize(by_camera(rows))}
    a, b = summaries["a"], summaries["b"]
    assert (a.first_ts, a.last_ts) == (at(0), at(180))
    assert (a.latest.status, a.latest.gateway_id) == ("down", 3)
    assert a.first.unit_code == "first-unit"  # an unknown camera is registered under its earliest delivery
    assert (b.first_ts, b.last_ts, b.latest.gateway_id, b.first.unit_code) == (at(60), at(60), 2, "15866")
    assert len(summaries) == 2


def test_of_two_heartbeats_at_the_same_second_the_first_received_is_the_latest() -> None:
    (only,) = summarize(by_camera([row("a", 60, status="degraded"), row("a", 60, status="down"), row("a", 0)]))
    assert (only.last_ts, only.latest.status) == (at(60), "degraded")


def test_a_gateway_watermark_is_its_furthest_delivery_never_ahead_of_when_it_received_it() -> None:
    rows = [
        row("a", 100, gateway=1),
        row("b", 700, gateway=1, received=610),  # camera clock fast: the gateway received it at 610
        row("c", 50, gateway=2),
    ]
    keepalives = [KeepAlive(2, at(300), at(301)), KeepAlive(3, at(900), at(800))]
    assert watermarks(rows, keepalives) == {1: at(610), 2: at(300), 3: at(800)}
    assert watermarks([], []) == {}
