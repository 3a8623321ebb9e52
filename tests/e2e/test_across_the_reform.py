"""Figures across the 2025 reform through the real path (issue 18): cameras of the province's first-half-2025 units
(set 2025-01) — three communes that merged whole into one 2025 xã and one commune that was split — push through
the gateway, Kafka and ingest; their seconds come out of `/api/v1/uptime` per unit of either set. The split
commune's camera is "chưa xác định đơn vị" in the 2025 view until the operator names its new unit with `pulse
cameras import` (column successor_unit_code), and then counts there. Seconds are worked out by hand (I = G = 60).

The communes (services/core/reference/thanhhoa-2025-01.csv): Thiệu Duy 15799, Thiệu Hợp 15805 and Thiệu Thịnh
15808 became 2025 Thiệu Giang 15796 whole; Thiệu Hóa 15772 was split between 15772, 15796 and 15835.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from app_events.validation import pseudonym
from services.cli import cli
from services.core import accounts
from tests.e2e.harness import Clock, start_stack, until

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


# Former districts and the province (issue 18): a figure for a commune, a former district or the province, in any
# set. Thiệu Duy 15799, Thiệu Hợp 15805 and Thiệu Thịnh 15808 (district 398) became 2025 Thiệu Giang 15796; Bút
# Sơn (2025-01 15865, district 399) and Hoằng Đức (2024 15928, the former district's own set, district 399) became
# 2025 Hoằng Hóa 15865; Thiệu Hóa 15772 (398) was split. Province 38.
KEY = "e2e-pseudonym-key-for-tests-only"
JULY = T + timedelta(minutes=10)  # 1 July 2025, 00:00 in Thanh Hóa
CAMS_2025_01 = {"cam-duy": "15799", "cam-hop": "15805", "cam-split": "15772", "cam-butson": "15865"}
CAM_2024 = ("cam-duc", "15928")
DISTRICT_2025_01 = {"15799": "398", "15805": "398", "15808": "398", "15772": "398", "15865": "399"}
TO_2025 = {"15799": "15796", "15805": "15796", "15808": "15796", "15865": "15865", "15772": None}
FORMER_DISTRICT_2025 = {"15796": "398", "15865": "399"}


def july(seconds: float) -> datetime:
    return JULY + timedelta(seconds=seconds)


def by_group(body: dict) -> dict:
    return {
        i["group_code"]: (i["up_s"], i["degraded_s"], i["down_s"], i["cameras"]) for i in body["items"] if i["cameras"]
    }


async def test_former_districts_and_the_province_sum_camera_time_and_count_each_subject_once(
    settings, conn, tmp_path
) -> None:
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    clock = Clock(datetime(2025, 5, 31, 21, 0, tzinfo=tz))
    # The collector reads an event's unit_code in the set in force (SPEC §3): here the first half of 2025.
    stack = await start_stack(settings, conn, tmp_path, clock, pseudonym_key=SecretStr(KEY), unit_set="2025-01")
    try:
        # --- App events: (user, 2025-01 unit, local time, event) ---
        sent = [
            ("citizen-1", "15808", datetime(2025, 5, 31, 20, 0, tzinfo=tz), "app_open"),  # May: before June
            ("citizen-1", "15799", datetime(2025, 6, 29, 9, 0, tzinfo=tz), "app_open"),
            ("citizen-1", "15805", datetime(2025, 6, 29, 10, 0, tzinfo=tz), "screen_view"),  # same xã, same day
            ("citizen-1", "15805", datetime(2025, 6, 30, 8, 0, tzinfo=tz), "screen_view"),
            ("citizen-1", "15805", datetime(2025, 6, 30, 8, 5, tzinfo=tz), "feedback_submitted"),
            ("citizen-2", "15865", datetime(2025, 6, 30, 9, 0, tzinfo=tz), "app_open"),  # two former districts
            ("citizen-2", "15799", datetime(2025, 6, 30, 18, 0, tzinfo=tz), "app_open"),
            ("citizen-3", "15772", datetime(2025, 6, 30, 12, 0, tzinfo=tz), "app_open"),  # split: no 2025 unit
        ]
        # July: the app, updated for the reform, sends the 2025 codes and names their list (SPEC §3: "unless the
        # record names its unit_set"); read in 2025-01, the collector's set, 15772 would be the split commune and
        # 15796 another commune.
        sent_july = [
            ("citizen-1", "15796", datetime(2025, 7, 1, 9, 0, tzinfo=tz), "app_open"),
            ("citizen-3", "15772", datetime(2025, 7, 1, 10, 0, tzinfo=tz), "app_open"),  # the split one's xã now
            ("citizen-4", "15865", datetime(2025, 7, 2, 8, 0, tzinfo=tz), "app_open"),
            ("citizen-4", "15865", datetime(2025, 7, 2, 9, 0, tzinfo=tz), "feedback_submitted"),
        ]
        for n, (user, unit, when, name) in enumerate(sent + sent_july):
            clock.now = when + timedelta(minutes=1)
            props = {"category": "road_damage"} if name == "feedback_submitted" else {}
            if name == "screen_view":
                props = {"screen": "home"}
            body = {
                "sent_at": clock.now.isoformat(),
                "context": {"install_id": str(uuid.UUID(int=500 + n)), "platform": "android", "app_version": "2.3.1"},
                "events": [
                    {
                        "event_id": str(uuid.uuid4()),
                        "event": name,
                        "created_at": when.isoformat(),
                        "unit_code": unit,
                        **({"unit_set": "2025"} if when >= JULY else {}),
                        "user_id": user,
                        "properties": props,
                    }
                ],
            }
            reply = (await stack.send_events(body)).json()
            assert reply == {"accepted": 1, "rejected": []}, reply
        stored = len(sent) + len(sent_july)
        await until(lambda: stack.count("SELECT count(*) AS n FROM app_events") == stored, what="events stored")

        # --- Cameras and heartbeats, 1 July from 00:00 ---
        clock.now = july(1200)
        token = stack.gateway("gw-2025-01", *CAMS_2025_01.values(), unit_set="2025-01")
        token_2024 = stack.gateway("gw-2024", CAM_2024[1], unit_set="2024")
        env = {"PULSE_DATABASE_URL": stack.settings.database_url}
        for unit_set, cams in (("2025-01", CAMS_2025_01), ("2024", dict([CAM_2024]))):
            csv = tmp_path / f"cameras-{unit_set}.csv"
            csv.write_text("camera_id,unit_code,name\n" + "".join(f"{c},{u},{c}\n" for c, u in cams.items()))
            imported = CliRunner().invoke(cli, ["cameras", "import", str(csv), "--unit-set", unit_set], env=env)
            assert imported.exit_code == 0, imported.output
        await stack.gateway_reload()
        # Every camera beats every 60 s from 0 to 1140; cam-hop is silent from 300 to 900 (up [0, 360), down
        # [360, 900), up [900, 1140)); cam-duc is degraded from 600 (up [0, 600), degraded [600, 1140)).
        items = [
            {"camera_id": c, "ts": july(t).isoformat(), "status": "ok"}
            for c in CAMS_2025_01
            for t in range(0, 1141, 60)
            if not (c == "cam-hop" and 300 < t < 900)
        ]
        old = [
            {"camera_id": CAM_2024[0], "ts": july(t).isoformat(), "status": "ok" if t < 600 else "degraded"}
            for t in range(0, 1141, 60)
        ]
        assert (await stack.push(token, items)).json()["rejected"] == []
        assert (await stack.push(token_2024, old)).json()["rejected"] == []
        await stack.settle(len(items) + len(old), watermarks={"gw-2025-01": july(1140), "gw-2024": july(1140)})

        # Seconds per camera over [0, 1140), by hand: (up, degraded, down)
        cam = {
            "cam-duy": (1140, 0, 0),
            "cam-hop": (600, 0, 540),
            "cam-split": (1140, 0, 0),
            "cam-butson": (1140, 0, 0),
            "cam-duc": (600, 540, 0),
        }

        def total(*names: str) -> tuple:
            return (*(sum(cam[n][k] for n in names) for k in range(3)), len(names))

        async def uptime(unit_set: str, group_by: str) -> dict:
            window = {"from": july(0).isoformat(), "to": july(1140).isoformat()}
            return await stack.api("/api/v1/uptime", **window, unit_set=unit_set, group_by=group_by)

        district = await uptime("2025", "district")
        assert by_group(district) == {
            "398": total("cam-duy", "cam-hop"),  # 15796, whose parts were in Thiệu Hóa
            "399": total("cam-butson", "cam-duc"),  # 15865, from a 2025-01 and a 2024 commune
            None: total("cam-split"),  # no 2025 unit yet: "chưa xác định đơn vị"
        }
        item = next(i for i in district["items"] if i["group_code"] == "398")
        assert item["unit_code"] is None and item["group_name"] == "Huyện Thiệu Hóa"
        assert item["availability"] == pytest.approx((1740) / (1740 + 540))  # camera-time, not a mean of fractions
        province = await uptime("2025", "province")
        assert by_group(province) == {
            "38": total("cam-duy", "cam-hop", "cam-butson", "cam-duc"),
            None: total("cam-split"),
        }
        assert by_group(await uptime("2025-01", "district")) == {
            "398": total("cam-duy", "cam-hop", "cam-split"),
            "399": total("cam-butson"),
            None: total("cam-duc"),  # a 2024 camera has no unit in the 2025-01 set (no 2024 → 2025-01 mapping)
        }
        assert by_group(await uptime("2025-01", "province")) == {
            "38": total("cam-duy", "cam-hop", "cam-split", "cam-butson"),
            None: total("cam-duc"),
        }
        assert by_group(await uptime("2024", "district")) == {
            "399": total("cam-duc"),
            None: total("cam-duy", "cam-hop", "cam-split", "cam-butson"),
        }
        # A commune operator of 15796 may not read the whole of former district 398: no such group for them.
        accounts.create_operator(
            conn, username="op-15796", role="commune", unit_set="2025", unit_codes=["15796"], password=None
        )
        op_token = accounts.create_api_token(conn, username="op-15796")
        window = {"from": july(0).isoformat(), "to": july(1140).isoformat(), "unit_set": "2025", "group_by": "district"}
        scoped = await stack.http.get(
            f"{stack.api_url}/api/v1/uptime", params=window, headers={"Authorization": f"Bearer {op_token}"}
        )
        assert scoped.status_code == 200, scoped.text
        assert all(i["group_code"] is None for i in scoped.json()["items"])

        # --- Engagement in June, computed here from the events sent ---
        subjects = {u: pseudonym(KEY.encode(), u) for u in ("citizen-1", "citizen-2", "citizen-3")}
        first, end = date(2025, 6, 1), date(2025, 7, 1)

        def figures(place) -> dict[str | None, dict]:
            """§8 per group, `place` giving an event's group from its 2025-01 unit (None: in no group)."""
            out: dict[str | None, dict] = {}
            for grp in {place(u) for _, u, _, _ in sent} - {None}:
                mine = [(subjects[s], w.date(), n) for s, u, w, n in sent if place(u) == grp]
                active = {s for s, d, _ in mine if first <= d < end}
                before = {s for s, d, _ in mine if d < first}
                days = {(s, d) for s, d, _ in mine if first <= d < end}
                out[grp] = {
                    "mau": len(active),
                    "new": len(active - before),
                    "returning": len(active & before),
                    "dau_avg": len(days) / 30,
                    "feedback_submitted": sum(1 for _, d, n in mine if n == "feedback_submitted" and first <= d),
                }
            return out

        def of_2025(u: str) -> str | None:
            return TO_2025[u]

        views = {
            ("2025", "unit"): figures(of_2025),
            ("2025", "district"): figures(lambda u: FORMER_DISTRICT_2025.get(TO_2025[u] or "")),
            ("2025", "province"): figures(lambda u: "38" if TO_2025[u] else None),
            ("2025-01", "district"): figures(DISTRICT_2025_01.__getitem__),
            ("2025-01", "province"): figures(lambda u: "38"),
        }
        # The subjects the brief is about: citizen 1 in two communes of one xã, citizen 2 in two former districts.
        assert views[("2025", "unit")]["15796"]["mau"] == 2
        assert views[("2025", "district")] and views[("2025", "district")]["398"]["mau"] == 2
        assert views[("2025", "province")]["38"]["mau"] == 2
        assert views[("2025-01", "district")]["398"]["returning"] == 1  # citizen 1 came in May via 15808
        for (unit_set, group_by), want in views.items():
            body = await stack.api("/api/v1/engagement", month="2025-06", unit_set=unit_set, group_by=group_by)
            key = "unit_code" if group_by == "unit" else "group_code"
            got = {i[key]: {k: i[k] for k in ("mau", "new", "returning", "dau_avg", "feedback_submitted")}
                   for i in body["items"] if i["mau"]}  # fmt: skip
            assert got == {k: pytest.approx(v) for k, v in want.items()}, (unit_set, group_by)
        # The sum of the former districts' MAUs (2 + 1) is not the province's (2): citizen 2 is one citizen.
        body = await stack.api("/api/v1/engagement", month="2025-06", unit_set="2025", group_by="district")
        assert sum(i["mau"] for i in body["items"]) == 3
        assert body["district"]["mau"] == 3  # the whole view also holds citizen 3, of the split commune

        # --- Engagement in July, in the 2025 set: each event's unit is the 2025 code it was sent with ---
        former = {**FORMER_DISTRICT_2025, "15772": "398"}  # Thiệu Hóa xã: all its parts were district 398's
        in_july = [(subjects.get(s) or pseudonym(KEY.encode(), s), u) for s, u, _, _ in sent_july]
        want_july = {
            "unit": {u: len({s for s, v in in_july if v == u}) for _, u in in_july},
            "district": {d: len({s for s, u in in_july if former[u] == d}) for d in set(former.values())},
            "province": {"38": len({s for s, _ in in_july})},
        }
        assert want_july["unit"] == {"15796": 1, "15772": 1, "15865": 1}
        assert want_july["district"] == {"398": 2, "399": 1}
        for group_by, want in want_july.items():
            body = await stack.api("/api/v1/engagement", month="2025-07", unit_set="2025", group_by=group_by)
            key = "unit_code" if group_by == "unit" else "group_code"
            assert {i[key]: i["mau"] for i in body["items"] if i["mau"]} == want, group_by
        july_sets = conn.execute("SELECT DISTINCT unit_set FROM app_events WHERE event_time >= %s", (JULY,))
        assert [r["unit_set"] for r in july_sets] == ["2025"]
    finally:
        await stack.close()
