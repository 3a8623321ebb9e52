"""App-event ingest and the §8 figures against the real TimescaleDB, on hand-made event sets.

Every expected figure is computed in this file from the list of events with plain sets — a second, independent
reading of SPEC §8 — and compared with what the activity tables give. The events are written in shuffled order,
in several batches, with duplicates (same event_id, a later delivery), so the figures must not depend on order.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from services.core import engagement, units
from services.ingest.app_events import EventRow
from services.ingest.event_writer import prune_seen, write_events

pytestmark = pytest.mark.db
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# 2024 communes and the 2025 xã they became (services/core/reference/hoanghoa-units.csv).
GIANG, XUAN, PHUONG = "15871", "15877", "15880"  # → 2025 15880 Hoằng Giang
BUT_SON, DUC = "15865", "15928"  # → 2025 15865 Hoằng Hóa
TO_2025 = {GIANG: "15880", XUAN: "15880", PHUONG: "15880", BUT_SON: "15865", DUC: "15865"}


@dataclass(frozen=True)
class Ev:
    subject: str
    unit: str | None
    local: datetime  # in Asia/Ho_Chi_Minh
    event: str = "app_open"
    background: bool = False
    event_id: uuid.UUID | None = None

    def row(self, *, received_delay_s: float = 5) -> EventRow:
        at = self.local
        return EventRow(
            event_time=at.astimezone(UTC),
            event_id=self.event_id or uuid.uuid5(uuid.NAMESPACE_URL, repr(self)),
            event=self.event,
            subject=self.subject,
            unit_set="2024" if self.unit else None,
            unit_code=self.unit,
            session_id=None,
            app_id=None,
            platform="android",
            app_version="2.3.1",
            properties=b"{}",
            received_at=at.astimezone(UTC) + timedelta(seconds=received_delay_s),
            background=self.background,
            day=at.date(),
        )


def subj(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


A, B, C, D, E, F = (subj(x) for x in "ABCDEF")


def d(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=TZ)


EVENTS = [
    # A: active in two communes of different 2025 xã in March; in February too (returning in March).
    Ev(A, GIANG, d(2, 10)),
    Ev(A, GIANG, d(3, 1)),
    Ev(A, GIANG, d(3, 1, 20)),  # same day again: still one active day
    Ev(A, BUT_SON, d(3, 2)),
    Ev(A, BUT_SON, d(3, 2), "feedback_submitted"),
    # B: two communes of the same 2025 xã on the same day: one subject, one active day for that xã.
    Ev(B, GIANG, d(3, 5)),
    Ev(B, XUAN, d(3, 5, 21)),
    Ev(B, XUAN, d(3, 6), "feedback_submitted"),
    # C: only background events in March (not active), one foreground event in April.
    Ev(C, PHUONG, d(3, 7), "push_received", background=True),
    Ev(C, PHUONG, d(3, 8), "background_sync", background=True),
    Ev(C, PHUONG, d(4, 2)),
    # D: across the month boundary in local time: 23:30 on 31 March local is 16:30 UTC, and 00:30 on 1 April
    # local is 17:30 UTC on 31 March — a UTC reading would put both in March.
    Ev(D, DUC, d(3, 31, 23, 30)),
    Ev(D, DUC, d(4, 1, 0, 30)),
    # E: no unit named: counts for the district only.
    Ev(E, None, d(3, 3)),
    # F: new in March in Bút Sơn, back in April in Hoằng Đức (same 2025 xã: returning there, new in Hoằng Đức).
    Ev(F, BUT_SON, d(3, 20)),
    Ev(F, DUC, d(4, 10)),
]


def write_shuffled(conn: psycopg.Connection, events: list[Ev], seed: int = 7) -> int:
    rng = random.Random(seed)
    rows = [e.row() for e in events]
    # Retries of some events, delivered later (different received_at, same event_id), in the same and later batches.
    rows += [e.row(received_delay_s=3600) for e in rng.sample(events, 6)]
    rng.shuffle(rows)
    stored = 0
    for i in range(0, len(rows), 5):
        stored += write_events(conn, rows[i : i + 5])
    return stored


# --- the independent reading of §8 ---------------------------------------------------------------------------


def scope_of(e: Ev, view: str) -> str | None:
    if e.unit is None:
        return None
    return e.unit if view == "2024" else TO_2025[e.unit]


def active(events: list[Ev], view: str | None, code: str | None, first: date, end: date) -> dict[str, set[date]]:
    """Subject → local days it was active in [first, end) in the scope (view None: the district)."""
    days: dict[str, set[date]] = defaultdict(set)
    for e in events:
        if e.background or not first <= e.local.date() < end:
            continue
        if view is not None and scope_of(e, view) != code:
            continue
        days[e.subject].add(e.local.date())
    return days


def expected(events: list[Ev], view: str | None, code: str | None, month: int) -> dict:
    first, end = date(2024, month, 1), date(2024, month + 1, 1)
    in_month = active(events, view, code, first, end)
    before = active(events, view, code, date(2000, 1, 1), first)
    days_in_month = (end - first).days
    mau = len(in_month)
    dau_avg = sum(len(v) for v in in_month.values()) / days_in_month
    return {
        "mau": mau,
        "dau_avg": dau_avg,
        "new": len([s for s in in_month if s not in before]),
        "returning": len([s for s in in_month if s in before]),
        "stickiness": dau_avg / mau if mau else None,
        "feedback_submitted": sum(
            1
            for e in events
            if e.event == "feedback_submitted"
            and first <= e.local.date() < end
            and (view is None or scope_of(e, view) == code)
        ),
    }


def pick(item: dict) -> dict:
    return {k: item[k] for k in ("mau", "dau_avg", "new", "returning", "stickiness", "feedback_submitted")}


# --- the tests ---------------------------------------------------------------------------------------------------


def test_each_event_is_stored_once_whatever_the_order_and_the_retries(conn) -> None:
    assert write_shuffled(conn, EVENTS) == len(EVENTS)
    assert conn.execute("SELECT count(*) AS n FROM app_events").fetchone()["n"] == len(EVENTS)
    assert conn.execute("SELECT count(*) AS n FROM app_event_seen").fetchone()["n"] == len(EVENTS)
    # A second delivery of everything changes nothing.
    assert write_events(conn, [e.row(received_delay_s=7200) for e in EVENTS]) == 0
    assert conn.execute("SELECT count(*) AS n FROM app_events").fetchone()["n"] == len(EVENTS)


@pytest.mark.parametrize("view", ["2024", "2025"])
@pytest.mark.parametrize("month", [3, 4])
def test_month_figures_per_unit_and_district_match_an_independent_count(conn, view, month) -> None:
    write_shuffled(conn, EVENTS, seed=month)
    today = date(2024, 6, 1)  # both months are over: every day counts
    per_unit, district = engagement.month_figures(conn, view, date(2024, month, 1), today)
    for code in {scope_of(e, view) for e in EVENTS} - {None}:
        assert pick(per_unit[code].as_item()) == expected(EVENTS, view, code, month), code
    assert pick(district.as_item()) == expected(EVENTS, None, None, month)
    untouched = set(per_unit) - {scope_of(e, view) for e in EVENTS}
    assert all(per_unit[c].mau == 0 and per_unit[c].dau_avg == 0 for c in untouched)


def test_the_scenario_reads_as_described(conn) -> None:
    """Spelled out, so the scenario itself cannot silently lose what it is meant to show."""
    write_shuffled(conn, EVENTS)
    today = date(2024, 6, 1)
    march, district = engagement.month_figures(conn, "2024", date(2024, 3, 1), today)
    # District MAU (A, B, D, E, F) is less than the sum of the communes' MAUs (A counted in two communes, B too).
    assert district.mau == 5
    assert sum(f.mau for f in march.values()) == 6  # Giang A B, Bút Sơn A F, Xuân B, Đức D
    assert march[PHUONG].mau == 0  # C only had background events in March
    assert (march[DUC].mau, march[DUC].new) == (1, 1)  # D on 31 March local time
    x2025, _ = engagement.month_figures(conn, "2025", date(2024, 3, 1), today)
    assert x2025["15880"].mau == 2  # A and B; B in two of its communes is one subject
    assert x2025["15880"].active_days == 3  # A: 1 March; B: 5 March (both communes) — one day
    april, _ = engagement.month_figures(conn, "2025", date(2024, 4, 1), today)
    assert (april["15865"].new, april["15865"].returning) == (0, 2)  # D and F were active there in March


def test_a_late_event_makes_a_subject_new_earlier(conn) -> None:
    write_events(conn, [Ev(A, GIANG, d(3, 10)).row()])
    march, _ = engagement.month_figures(conn, "2024", date(2024, 3, 1), date(2024, 6, 1))
    assert (march[GIANG].new, march[GIANG].returning) == (1, 0)
    write_events(conn, [Ev(A, GIANG, d(2, 27)).row()])  # arrives later, happened earlier
    march, _ = engagement.month_figures(conn, "2024", date(2024, 3, 1), date(2024, 6, 1))
    feb, _ = engagement.month_figures(conn, "2024", date(2024, 2, 1), date(2024, 6, 1))
    assert (march[GIANG].new, march[GIANG].returning) == (0, 1)
    assert feb[GIANG].new == 1


def test_dau_average_of_the_running_month_counts_only_days_begun(conn) -> None:
    write_events(conn, [Ev(A, GIANG, d(3, 1)).row(), Ev(B, GIANG, d(3, 2)).row(), Ev(A, GIANG, d(3, 2)).row()])
    march, _ = engagement.month_figures(conn, "2024", date(2024, 3, 1), date(2024, 3, 2))
    assert march[GIANG].days == 2
    assert march[GIANG].dau_avg == 3 / 2


def test_adoption_uses_entered_population_and_is_blank_without_it(conn) -> None:
    write_events(conn, [Ev(A, GIANG, d(3, 1)).row(), Ev(B, XUAN, d(3, 1)).row()])
    try:
        units.set_population(conn, unit_set="2024", code=GIANG, population=400, households=None, note="test")
        month = date(2024, 3, 1)
        per_unit, district = engagement.month_figures(conn, "2024", month, date(2024, 6, 1))
        assert per_unit[GIANG].adoption == 1 / 400
        assert per_unit[XUAN].adoption is None
        assert district.adoption is None  # not every commune has a population
        x2025, _ = engagement.month_figures(conn, "2025", month, date(2024, 6, 1))
        assert x2025["15880"].adoption is None  # four of its five communes have none
        for code, pop in ((XUAN, 600), (PHUONG, 1000), ("15886", 500)):
            units.set_population(conn, unit_set="2024", code=code, population=pop, households=None, note="test")
        x2025, _ = engagement.month_figures(conn, "2025", month, date(2024, 6, 1))
        assert x2025["15880"].adoption is None  # Hoằng Hợp still has none
        units.set_population(conn, unit_set="2024", code="15919", population=500, households=None, note="test")
        x2025, _ = engagement.month_figures(conn, "2025", month, date(2024, 6, 1))
        assert x2025["15880"].population == 3000
        assert x2025["15880"].adoption == 2 / 3000
    finally:
        conn.execute("UPDATE units SET population = NULL, population_note = ''")


def test_series_features_and_retention(conn) -> None:
    write_shuffled(conn, EVENTS)
    district = (engagement.DISTRICT, engagement.DISTRICT)
    series = engagement.daily_series(conn, district, date(2024, 3, 30), date(2024, 4, 3))
    assert [(s["day"], s["dau"]) for s in series] == [
        ("2024-03-30", 0),
        ("2024-03-31", 1),
        ("2024-04-01", 1),
        ("2024-04-02", 1),
    ]
    weeks = engagement.weekly_active(conn, district, date(2024, 3, 1), date(2024, 3, 11))
    # ISO weeks from Monday 26 Feb: A (1 Mar), A (2 Mar), E (3 Mar) → 2; 4–10 Mar: B → 1.
    assert weeks == [{"week_start": "2024-02-26", "wau": 2}, {"week_start": "2024-03-04", "wau": 1}]
    features = {f["event"]: f for f in engagement.feature_use(conn, district, date(2024, 3, 1))}
    assert features["feedback_submitted"] == {"event": "feedback_submitted", "events": 2, "subjects": 2}
    assert features["app_open"]["events"] == sum(1 for e in EVENTS if e.event == "app_open" and e.local.month == 3)
    assert features["push_received"]["subjects"] == 1
    cohorts = engagement.retention(conn, district, date(2024, 2, 1), date(2024, 4, 1))
    # February: A (active in March, not April). March: B, D, E, F (D and F back in April). April: C.
    assert cohorts == [
        {
            "cohort": "2024-02-01",
            "size": 1,
            "months": [
                {"month": "2024-03-01", "active": 1, "share": 1.0},
                {"month": "2024-04-01", "active": 0, "share": 0.0},
            ],
        },
        {"cohort": "2024-03-01", "size": 4, "months": [{"month": "2024-04-01", "active": 2, "share": 0.5}]},
        {"cohort": "2024-04-01", "size": 1, "months": []},
    ]


def test_old_event_ids_are_forgotten_only_after_the_window(conn) -> None:
    old = Ev(A, GIANG, d(3, 1)).row()
    write_events(conn, [old])
    assert prune_seen(conn) == 0
    write_events(conn, [Ev(A, GIANG, d(3, 10)).row()])  # nine days later: the first id is still kept
    assert prune_seen(conn) == 0
    write_events(conn, [Ev(A, GIANG, d(3, 12)).row()])
    assert prune_seen(conn) == 1
    assert conn.execute("SELECT count(*) AS n FROM app_event_seen").fetchone()["n"] == 2


def test_a_batch_written_concurrently_from_two_connections_counts_each_day_once(conn, settings) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from services.core.db import connect

    same_day = [Ev(A, GIANG, d(3, 1, h)) for h in range(8, 20)]

    def write(part: list[Ev]) -> int:
        with connect(settings, autocommit=True) as c:
            return sum(write_events(c, [e.row()]) for e in part)

    with ThreadPoolExecutor(2) as pool:
        assert sum(pool.map(write, [same_day[::2], same_day[1::2]])) == len(same_day)
    march, _ = engagement.month_figures(conn, "2024", date(2024, 3, 1), date(2024, 6, 1))
    assert (march[GIANG].mau, march[GIANG].active_days) == (1, 1)


def expected_features(events: list[Ev], view: str | None, code: str | None, month: int) -> dict[str, dict]:
    """Per event name in the month and scope: its events and its distinct subjects, from the events themselves."""
    events_of: dict[str, int] = defaultdict(int)
    subjects_of: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e.local.month != month or (view is not None and scope_of(e, view) != code):
            continue
        events_of[e.event] += 1
        subjects_of[e.event].add(e.subject)
    return {n: {"event": n, "events": events_of[n], "subjects": len(subjects_of[n])} for n in events_of}


def test_feature_use_per_scope_matches_an_independent_count_beyond_one_word_of_names(conn) -> None:
    """Feature use keeps each subject's names as bits, 64 names to a word (migration 0016): 150 names in random
    order, several subjects per name, duplicates and retries in shuffled batches, every scope of both views."""
    rng = random.Random(19)
    names = [f"feature_{i:03d}" for i in range(150)]
    rng.shuffle(names)  # ids are given in the order names first arrive
    units_2024 = sorted(TO_2025)
    extra = [
        Ev(
            rng.choice([A, B, C, D]),
            rng.choice([*units_2024, None]),
            d(rng.choice([3, 4]), rng.randint(1, 28), 10, i % 60),
            name,
        )
        for i, name in enumerate(names * 3)
    ]
    events = EVENTS + extra
    assert write_shuffled(conn, events, seed=3) == len(events)
    for view in ("2024", "2025"):
        for code in {scope_of(e, view) for e in events} - {None}:
            for month in (3, 4):
                got = {f["event"]: f for f in engagement.feature_use(conn, (view, code), date(2024, month, 1))}
                assert got == expected_features(events, view, code, month), (view, code, month)
    for month in (3, 4):
        got = engagement.feature_use(conn, (engagement.DISTRICT, engagement.DISTRICT), date(2024, month, 1))
        assert {f["event"]: f for f in got} == expected_features(events, None, None, month)
        assert [f["events"] for f in got] == sorted((f["events"] for f in got), reverse=True)
    # The names filled three words, and a subject's set holds more than one name.
    assert conn.execute("SELECT max(word) AS w FROM engagement_name_sets").fetchone()["w"] == 2
    assert conn.execute("SELECT count(*) AS n FROM engagement_name_sets WHERE names < 0").fetchone()["n"] > 0
