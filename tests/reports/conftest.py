"""The hand-made month of the monthly-briefing tests (October 2026, read on 4 November at 10:00 in Hoằng Hóa):
heartbeats through the real ingest writer and rollup, app events through the real event writer, incidents as
`pulse alerts` writes them; and the expected figures, computed by hand from the scenario."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from services.core import accounts, units
from services.core.cameras import CameraRow, import_cameras
from services.ingest.app_events import EventRow
from services.ingest.event_writer import write_events
from services.ingest.heartbeat_writer import write_batch
from services.ingest.heartbeats import HeartbeatRow
from services.ingest.rollup import rollup_all

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
BUT_SON, GIANG, XUAN = "15865", "15871", "15877"  # 2024 communes; 2025: 15865 and 15880 (Giang + Xuân)
NOW = datetime(2026, 11, 4, 10, 0, tzinfo=TZ)
OCT, SEP = date(2026, 10, 1), date(2026, 9, 1)
H, DAY = 3600, 86400
OCT_S, SEP_S = 31 * DAY, 30 * DAY


def local(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TZ)


# --- the scenario: four cameras beating every hour (I = G = 3600 s) -------------------------------------------
# A1 (Bút Sơn)    silent from Oct 10 00:00 to Oct 11 00:00: up [00:00, 01:00), then down 23 h = 82,800 s.
# A2 (Bút Sơn)    three 'degraded' beats on Oct 20 at 10, 11, 12 h: 10,800 s degraded (still available).
# B1 (Giang)      silent Sep 11 → Sep 16: down 5 days − 1 h = 428,400 s in September;
#                 silent Oct 25 00:00 → Nov 4 00:00: down from Oct 25 01:00 to the month's end = 601,200 s.
# C1 (Xuân)       installed Oct 16: 16 days in service in October, all up; not in service in September.
A1_DOWN, A2_DEGRADED, B1_DOWN_OCT, B1_DOWN_SEP = 82_800, 10_800, 601_200, 428_400
C1_OCT = 16 * DAY


def beats(
    camera: str,
    unit: str,
    start: datetime,
    end: datetime,
    gaps: list[tuple[datetime, datetime]],
    degraded: set[datetime],
    gateway_id: int,
) -> list[HeartbeatRow]:
    rows, t = [], start
    while t <= end:
        if not any(a < t < b for a, b in gaps):
            status, state = ("degraded", "degraded") if t in degraded else ("ok", "up")
            ts = t.astimezone(UTC)
            rows.append(HeartbeatRow(camera, ts, status, state, None, None, None, gateway_id, "2024", unit, ts))
        t += timedelta(seconds=H)
    return rows


def app_event(subject: str, unit: str, at: datetime, event: str = "app_open", background: bool = False) -> EventRow:
    return EventRow(
        event_time=at.astimezone(UTC),
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{subject}{unit}{at}{event}"),
        event=event,
        subject=subject,
        unit_set="2024",
        unit_code=unit,
        session_id=None,
        app_id=None,
        platform="android",
        app_version="2.3.1",
        properties=b"{}",
        received_at=at.astimezone(UTC),
        background=background,
        day=at.date(),
    )


@pytest.fixture
def month(conn: psycopg.Connection) -> None:
    accounts.create_gateway(conn, name="gw", unit_set="2024", unit_codes=[BUT_SON, GIANG, XUAN])
    gw = conn.execute("SELECT gateway_id FROM gateways").fetchone()["gateway_id"]
    import_cameras(
        conn,
        [
            CameraRow(c, u, c, H, None, None, None)
            for c, u in (("A1", BUT_SON), ("A2", BUT_SON), ("B1", GIANG), ("C1", XUAN))
        ],
        unit_set="2024",
    )
    conn.execute("UPDATE cameras SET installed_at = %s WHERE camera_id = 'C1'", (local(10, 16),))
    first, last = local(9, 1), local(11, 4)
    rows = [
        *beats("A1", BUT_SON, first, last, [(local(10, 10), local(10, 11))], set(), gw),
        *beats("A2", BUT_SON, first, last, [], {local(10, 20, h) for h in (10, 11, 12)}, gw),
        *beats("B1", GIANG, first, last, [(local(9, 11), local(9, 16)), (local(10, 25), local(11, 4))], set(), gw),
        *beats("C1", XUAN, local(10, 16), last, [], set(), gw),
    ]
    for i in range(0, len(rows), 5000):
        write_batch(conn, rows[i : i + 5000])
    rollup_all(conn)
    incidents = [  # (kind, unit, opened, resolved, resolution)
        ("camera_down", BUT_SON, local(10, 10, 1), local(10, 11), "recovered"),  # 82,800 s
        ("camera_degraded", BUT_SON, local(10, 20, 10), local(10, 20, 13), "recovered"),  # 10,800 s
        ("commune_outage", GIANG, local(10, 25, 1), None, None),  # still open: counted, no restore time
        ("camera_down", GIANG, local(10, 25, 1), local(10, 25, 2), "merged"),  # absorbed: not counted
        ("pipeline_stalled", None, local(10, 3), local(10, 3, 1), "recovered"),  # the system: not counted
        ("camera_down", BUT_SON, local(9, 28), local(9, 28, 2), "recovered"),  # September
    ]
    for kind, unit, opened, resolved, resolution in incidents:
        conn.execute(
            "INSERT INTO incidents (kind, status, unit_set, unit_code, opened_at, resolved_at, resolution)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                kind,
                "open" if resolved is None else "resolved",
                "2024" if unit else None,
                unit,
                opened,
                resolved,
                resolution,
            ),
        )
    write_events(
        conn,
        [
            app_event("s1", BUT_SON, local(9, 15, 9)),
            app_event("s1", BUT_SON, local(10, 2, 9)),
            app_event("s1", BUT_SON, local(10, 3, 20)),
            app_event("s2", BUT_SON, local(10, 5, 8)),
            app_event("s2", BUT_SON, local(10, 5, 8), "feedback_submitted"),
            app_event("s3", GIANG, local(10, 7, 19)),
            app_event("s3", BUT_SON, local(10, 8, 7)),
            app_event("s4", XUAN, local(9, 20, 18)),
            app_event("s5", GIANG, local(10, 30, 3), background=True),  # background: not active
        ],
    )
    units.set_population(conn, unit_set="2024", code=BUT_SON, population=1000, households=None, note="UBND xã")
    units.set_adoption_target(conn, unit_set="2024", code=BUT_SON, target=0.01)


# --- expected figures, by hand -------------------------------------------------------------------------------
AVAIL_BS = (2 * OCT_S - A1_DOWN) / (2 * OCT_S)  # degraded time counts as available
AVAIL_GIANG = (OCT_S - B1_DOWN_OCT) / OCT_S
AVAIL_XUAN = 1.0
AVAIL_DISTRICT = (2 * OCT_S - A1_DOWN + OCT_S - B1_DOWN_OCT + C1_OCT) / (3 * OCT_S + C1_OCT)
SEP_GIANG = (SEP_S - B1_DOWN_SEP) / SEP_S
SEP_DISTRICT = (3 * SEP_S - B1_DOWN_SEP) / (3 * SEP_S)
MTTR = (82_800 + 10_800) / 2  # 13 h 0 min
MAU = {BUT_SON: 3, GIANG: 1, XUAN: 0}  # s1 s2 s3 | s3 | — (s5 only in the background)
MAU_SEP = {BUT_SON: 1, GIANG: 0, XUAN: 1}
NEW = {BUT_SON: 2, GIANG: 1, XUAN: 0}  # s2 s3 | s3 | —  (s1 first came in September)
