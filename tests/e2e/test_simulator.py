"""The simulated district through the real path for one compressed cycle of trouble: the simulator posts to the
gateway and the collector, ingest stores, `pulse alerts` judges — all on the test's clock — and every kind of
trouble the world model says happened shows up through the API as the right state, incident and figure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from services.alerts.channels import add_channel
from services.demo.simulator import SYNTHETIC, Simulator, WorldConfig, prepare, world_for
from tests.e2e.harness import Clock, start_stack, until

pytestmark = [pytest.mark.db, pytest.mark.kafka]
CYCLE = 240
CONFIG = WorldConfig(cameras=37 * 4, interval_s=5, cycle_s=CYCLE, citizens=2000, flap_s=20)


async def test_one_cycle_of_the_simulated_district(settings, conn, tmp_path) -> None:
    t0 = datetime.fromtimestamp((datetime(2026, 11, 25, 13, 0, tzinfo=UTC).timestamp() // CYCLE) * CYCLE, UTC)
    clock = Clock(t0)
    stack = await start_stack(
        settings,
        conn,
        tmp_path,
        clock,
        pseudonym_key=SecretStr("simulator-test-key-0123456789"),
        gateway_silence_s=15,
        alert_group_wait_s=5,
        alert_tick_s=0.1,
    )
    add_channel(conn, kind="webhook", target="http://127.0.0.1:9/nowhere")  # messages are queued (and fail)
    world = world_for(stack.settings, CONFIG)
    credentials = prepare(stack.settings, world)
    urls = {"gateway_urls": [stack.gateway_url], "collector_urls": [stack.collector_url]}
    sim = Simulator(stack.settings, world, credentials, clock=clock, start=t0, **urls)
    try:
        http = stack.http
        await sim.cameras_between(http, t0 - timedelta(seconds=10), t0)
        stack.start_alerts()
        seen_states: dict[str, set[str]] = {}
        for _ in range(CYCLE // 5):
            before = clock.now
            clock.advance(5)
            await sim.cameras_between(http, before, clock.now)
            await sim.citizens_between(http, before, clock.now)
            await until(lambda: _caught_up(stack, clock.now), what="ingest caught up")
            for c in (await stack.api("/api/v1/cameras"))["items"]:
                seen_states.setdefault(c["camera_id"], set()).add(c["state"])
        moments = [t0 + timedelta(seconds=s) for s in range(CYCLE)]
        cut = next(u for t in moments if (u := world.power_cut_unit(t)))
        uplink = next(u for t in moments if (u := world.uplink_down_unit(t)))
        dead = set().union(*(world.dead(t) for t in moments))
        incidents = await stack.api("/api/v1/incidents")
        kinds = {(i["kind"], i["unit_code"]) for i in incidents["items"]}
        assert ("commune_outage", cut) in kinds
        assert ("gateway_down", uplink) in kinds
        down_cameras = {cid for i in incidents["items"] if i["kind"] == "camera_down" for cid in i["camera_ids"]}
        outage_cameras = {cid for i in incidents["items"] if i["kind"] == "commune_outage" for cid in i["camera_ids"]}
        long_enough = {c for c in dead if _silent_seconds(world, c, moments) > 2 * CONFIG.interval_s + 5}
        assert long_enough and long_enough <= down_cameras | outage_cameras
        degraded = {cid for i in incidents["items"] if i["kind"] == "camera_degraded" for cid in i["camera_ids"]}
        assert {world.blurred, world.covered} <= degraded
        assert "down" in seen_states[world.flapping] and "up" in seen_states[world.flapping]
        assert stack.count("SELECT count(*) AS n FROM camera_flapping") >= 1
        # The uplink loss was replayed: the gateway's cameras have no unknown hole where it was silent.
        window = {"from": t0.isoformat(), "to": (t0 + timedelta(seconds=CYCLE - 20)).isoformat()}
        unit = next(i for i in (await stack.api("/api/v1/uptime", **window))["items"] if i["unit_code"] == uplink)
        assert unit["unknown_s"] < 4 * 15  # only each camera's first seconds before its first beat
        # Citizens: sessions went through the collector and show as engagement.
        await until(lambda: stack.count("SELECT count(*) AS n FROM app_events") > 0, what="app events stored")
        assert sim.sessions > 0
        month = clock.now.astimezone(stack.settings.tz).strftime("%Y-%m")
        figures = await stack.api("/api/v1/engagement", month=month)
        assert figures["district"]["mau"] > 0
        populations = [i for i in (await stack.api("/api/v1/units"))["items"] if i["population"]]
        assert len(populations) == 37 and all(u["population_note"] == SYNTHETIC for u in populations)
        windows = (await stack.api("/api/v1/maintenance"))["items"]
        assert [(w["unit_code"], w["local_start"]) for w in windows] == [(world.maintenance_unit, "02:00:00")]
    finally:
        await stack.close()


def _caught_up(stack, now: datetime) -> bool:
    row = stack.db().execute("SELECT max(watermark) AS w FROM gateways WHERE name LIKE 'sim-%'").fetchone()
    return row["w"] is not None and row["w"] >= now - timedelta(seconds=5)


def _silent_seconds(world, camera_id: str, moments: list[datetime]) -> int:
    cam = next(c for c in world.cameras if c.camera_id == camera_id)
    return sum(1 for t in moments if world.heartbeat(cam, t) is None)
