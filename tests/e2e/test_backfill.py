"""`--backfill`: the simulated district's history goes through Kafka and ingest like live data (issue 9), so
the API — engagement per day, uptime of past days, the monthly report — has figures at once; every message sent
is stored once, and a second run (a restarted demo) writes nothing again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from services.demo.backfill import Backfill
from services.demo.simulator import WorldConfig, prepare, world_for
from services.reports.gather import gather
from tests.e2e.harness import Clock, start_stack, until

pytestmark = [pytest.mark.db, pytest.mark.kafka]
NOW = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)  # 10:30 in Hoằng Hóa
CONFIG = WorldConfig(cameras=37 * 4, interval_s=60, citizens=400)


async def test_backfilled_history_is_stored_once_and_shows_through_the_api(settings, conn, tmp_path) -> None:
    clock = Clock(NOW)
    stack = await start_stack(settings, conn, tmp_path, clock, pseudonym_key=SecretStr("backfill-test-key-0123456789"))
    try:
        world = world_for(stack.settings, CONFIG)
        credentials = prepare(stack.settings, world)
        history = Backfill(
            stack.settings, world, credentials.gateways, credentials.app_key, until=NOW, days=4, camera_days=1
        )
        sent = await history.run(stack.stop_ingest.__class__())
        assert sent["events"] > 1000 and sent["heartbeats"] > 148 * 1440 * 0.8
        await until(
            lambda: stack.count("SELECT count(*) AS n FROM app_events") == sent["events"],
            timeout=120,
            what="every backfilled event stored",
        )
        await until(lambda: stack.stored() == sent["heartbeats"], timeout=180, what="every heartbeat stored")
        await until(lambda: stack.count("SELECT count(*) AS n FROM camera_dirty") == 0, timeout=120, what="rollup")

        # Engagement: every backfilled day has active citizens (the district's daily series).
        daily = await stack.api("/api/v1/engagement/daily", **{"from": "2026-11-16", "to": "2026-11-21"})
        assert all(d["dau"] > 0 for d in daily["items"]), daily["items"]
        # Uptime of yesterday (a whole backfilled day): known, and touched by the world's trouble.
        window = {"from": "2026-11-19T00:00:00+07:00", "to": "2026-11-20T00:00:00+07:00"}
        unit = {i["unit_code"]: i for i in (await stack.api("/api/v1/uptime", **window))["items"]}
        assert all(u["coverage"] > 0.95 for u in unit.values()), unit
        assert min(u["availability"] for u in unit.values()) < 0.99  # a power cut, deaths: not all up
        # The monthly report reads the same history.
        report = gather(stack.db(), stack.settings, month=NOW.date().replace(day=1), unit_set="2024", now=NOW)
        assert report.summary.mau > 0 and report.summary.availability is not None

        again = await Backfill(
            stack.settings, world, credentials.gateways, credentials.app_key, until=NOW, days=4, camera_days=1
        ).run(stack.stop_ingest.__class__())
        # A restart writes only today's unfinished part again (stored once: the same ids, the same (camera, ts)).
        assert 0 < again["heartbeats"] < sent["heartbeats"] / 2 and again["events"] < sent["events"] / 4
    finally:
        await stack.close()
