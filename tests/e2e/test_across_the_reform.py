"""Figures across the 2025 reform through the real path (issue 18): cameras of the province's first-half-2025 units
(set 2025-01) — three communes that merged whole into one 2025 xã and one commune that was split — push through
the gateway, Kafka and ingest; their seconds come out of `/api/v1/uptime` per unit of either set. The split
commune's camera is "chưa xác định đơn vị" in the 2025 view until the operator names its new unit with `pulse
cameras import` (column successor_unit_code), and then counts there. Seconds are worked out by hand (I = G = 60).

The communes (services/core/reference/thanhhoa-2025-01.csv): Thiệu Duy 15799, Thiệu Hợp 15805 and Thiệu Thịnh
15808 became 2025 Thiệu Giang 15796 whole; Thiệu Hóa 15772 was split between 15772, 15796 and 15835.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from services.cli import cli
from tests.e2e.harness import Clock, start_stack

pytestmark = [pytest.mark.db, pytest.mark.kafka]
# 30 June 2025, 23:50 in Thanh Hóa (UTC+7): ten minutes before the reform.
T = datetime(2025, 6, 30, 16, 50, tzinfo=UTC)
MERGED = {"cam-duy": "15799", "cam-hop": "15805", "cam-thinh": "15808"}
SPLIT = ("cam-split", "15772")


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


async def test_merged_communes_add_up_and_a_split_communes_camera_waits_for_the_operator(
    settings, conn, tmp_path
) -> None:
    stack = await start_stack(settings, conn, tmp_path, Clock(T))
    try:
        token = stack.gateway("gw-thieu-hoa", *MERGED.values(), SPLIT[1], unit_set="2025-01")
        cameras = tmp_path / "cameras.csv"
        rows = [f"{c},{u},{c}" for c, u in (*MERGED.items(), SPLIT)]
        cameras.write_text("camera_id,unit_code,name\n" + "\n".join(rows) + "\n", encoding="utf-8")
        env = {"PULSE_DATABASE_URL": stack.settings.database_url}
        imported = CliRunner().invoke(cli, ["cameras", "import", str(cameras), "--unit-set", "2025-01"], env=env)
        assert imported.exit_code == 0, imported.output
        await stack.gateway_reload()
        stack.clock.advance(1200)
        # Every camera beats every 60 s from 0 to 1140 (23:50 → 00:09); cam-hop is silent from 300 to 900.
        items = [
            {"camera_id": c, "ts": at(t).isoformat(), "status": "ok"}
            for c in (*MERGED, SPLIT[0])
            for t in range(0, 1141, 60)
            if not (c == "cam-hop" and 300 < t < 900)
        ]
        assert (await stack.push(token, items)).json()["rejected"] == []
        await stack.settle(len(items), watermarks={"gw-thieu-hoa": at(1140)})

        async def seconds(unit_set: str, start: float, end: float) -> dict:
            window = {"from": at(start).isoformat(), "to": at(end).isoformat(), "unit_set": unit_set}
            body = await stack.api("/api/v1/uptime", **window)
            return {i["unit_code"]: (i["up_s"], i["down_s"], i["cameras"]) for i in body["items"] if i["cameras"]}

        # June (the last 10 minutes of it, [0, 600)) in the set then in force: one line per old commune.
        # cam-hop: beats to 300, next at 900 (gap 600 > 120): up [0, 360), down [360, 600) of June.
        june = await seconds("2025-01", 0, 600)
        assert june == {
            "15799": (600, 0, 1), "15805": (360, 240, 1), "15808": (600, 0, 1), "15772": (600, 0, 1),
        }  # fmt: skip
        # July's first minutes [600, 1140) in the 2025 set: the three merged communes are one xã; the split
        # commune's camera has no 2025 unit yet (key None: "chưa xác định đơn vị").
        # cam-hop: down [600, 900), up [900, 1140).
        july = await seconds("2025", 600, 1140)
        assert july == {"15796": (540 + 240 + 540, 300, 3), None: (540, 0, 1)}
        # The operator names the split camera's new unit: it counts there, for every window, from now on.
        cameras.write_text(
            "camera_id,unit_code,name,successor_unit_code\n"
            + "\n".join([*rows[:3], f"{SPLIT[0]},{SPLIT[1]},{SPLIT[0]},15835"])
            + "\n",
            encoding="utf-8",
        )
        wrong = tmp_path / "wrong.csv"
        wrong.write_text(f"camera_id,unit_code,successor_unit_code\n{SPLIT[0]},{SPLIT[1]},14758\n", encoding="utf-8")
        refused = CliRunner().invoke(cli, ["cameras", "import", str(wrong), "--unit-set", "2025-01"], env=env)
        assert refused.exit_code == 1 and "14758' is not a successor of unit 15772" in refused.output
        imported = CliRunner().invoke(cli, ["cameras", "import", str(cameras), "--unit-set", "2025-01"], env=env)
        assert imported.exit_code == 0, imported.output
        july = await seconds("2025", 600, 1140)
        assert july == {"15796": (540 + 240 + 540, 300, 3), "15835": (540, 0, 1)}
        # the old set's view is unchanged by the operator's word
        assert await seconds("2025-01", 0, 600) == june
        # the province as a whole: every camera, whichever set (availability over camera-time)
        body = await stack.api("/api/v1/units", unit_set="2025")
        assert sum(u["cameras_total"] for u in body["items"]) == 4
    finally:
        await stack.close()
