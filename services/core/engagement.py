"""Engagement figures (SPEC §8) read from the activity tables ingest maintains (migrations 0005, 0016).

Each scope — a unit of some set, or the district ('*', '*') — has its own rows, so every figure is a count or a
sum over one scope: MAU is the number of the scope's subjects active in the month, never a sum of the units'
MAUs, and a 2025 xã's figures are its own distinct subjects (ingest folds each 2024 commune's events into the
xã it maps to). `Figures` turns the counts into the derived figures; it is pure and unit-tested.

Decisions (recorded in docs/architecture.md):
- `dau_avg` is the mean over the days of the month that have begun (today included for the running month).
- `new` = first ever active day in the month; `returning` = active in the month and first active before it,
  so `new + returning = mau`.
- `adoption` = MAU ÷ population. A unit's population is the operator-entered figure; a coarser unit without its
  own figure takes the sum of its finer units when all of those are entered; the district the sum over the
  view's units when all are entered; otherwise blank.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from services.core.db import DbConn

DISTRICT = "*"


@dataclass(frozen=True)
class Figures:
    mau: int
    active_days: int  # Σ over the month's days of DAU (= Σ over subjects of their active days)
    days: int  # days of the month that have begun
    new: int
    feedback_submitted: int
    population: int | None

    @property
    def returning(self) -> int:
        return self.mau - self.new

    @property
    def dau_avg(self) -> float | None:
        return self.active_days / self.days if self.days else None

    @property
    def stickiness(self) -> float | None:
        dau = self.dau_avg
        return dau / self.mau if dau is not None and self.mau else None

    @property
    def adoption(self) -> float | None:
        return self.mau / self.population if self.population else None

    def as_item(self) -> dict:
        return {
            "population": self.population,
            "dau_avg": self.dau_avg,
            "mau": self.mau,
            "stickiness": self.stickiness,
            "new": self.new,
            "returning": self.returning,
            "adoption": self.adoption,
            "feedback_submitted": self.feedback_submitted,
        }


def month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    return first, first + timedelta(days=calendar.monthrange(first.year, first.month)[1])


def days_begun(month: date, today: date) -> int:
    """Days of the month up to and including today (all of them for a past month, none for a future one)."""
    first, end = month_bounds(month)
    if today < first:
        return 0
    return (min(today + timedelta(days=1), end) - first).days


def scope_id(conn: DbConn, scope: tuple[str, str]) -> int | None:
    """The small id ingest gives a scope; None when nothing was ever recorded for it."""
    row = conn.execute(
        "SELECT scope_id FROM engagement_scopes WHERE scope_set = %s AND scope_code = %s", scope, prepare=False
    ).fetchone()
    return row["scope_id"] if row else None


def populations(conn: DbConn, view_set: str) -> tuple[dict[str, int | None], int | None]:
    """Each unit's population in the view set and the district's (see the module notes)."""
    rows = conn.execute(
        """
        WITH parts AS (  -- per finer set: the sum of its units' populations, if every one was entered
            SELECT m.to_code AS code, m.from_set,
                   CASE WHEN count(f.population) = count(*) THEN sum(f.population) END AS population
            FROM unit_mapping m JOIN units f ON f.unit_set = m.from_set AND f.code = m.from_code
            WHERE m.to_set = %(set)s
              -- a set that split a unit into this one holds only part of its people: it cannot say
              AND NOT EXISTS (SELECT 1 FROM unit_successors s WHERE s.from_set = m.from_set
                              AND s.to_set = m.to_set AND s.to_code = m.to_code AND s.partly)
            GROUP BY m.to_code, m.from_set
        )
        SELECT u.code, u.population,
               (SELECT p.population FROM parts p JOIN unit_sets s ON s.unit_set = p.from_set
                WHERE p.code = u.code AND p.population IS NOT NULL
                ORDER BY s.valid_from DESC NULLS LAST LIMIT 1) AS from_finer
        FROM units u
        WHERE u.unit_set = %(set)s
        """,
        {"set": view_set},
        prepare=False,
    ).fetchall()
    per_unit = {r["code"]: r["population"] if r["population"] is not None else r["from_finer"] for r in rows}
    values = list(per_unit.values())
    district = sum(v for v in values if v is not None) if values and None not in values else None
    return per_unit, district


def month_figures(conn: DbConn, view_set: str, month: date, today: date) -> tuple[dict[str, Figures], Figures]:
    """Figures for every unit of the view set that has a row in the month, and for the district."""
    first, end = month_bounds(month)
    counts = conn.execute(
        """
        SELECT s.scope_set, s.scope_code, count(*) FILTER (WHERE m.active_days > 0) AS mau,
               coalesce(sum(m.active_days), 0) AS active_days, coalesce(sum(m.feedback), 0) AS feedback
        FROM engagement_monthly m JOIN engagement_scopes s USING (scope_id)
        WHERE s.scope_set = ANY(%s) AND m.month = %s
        GROUP BY s.scope_set, s.scope_code
        """,
        ([view_set, DISTRICT], first),
        prepare=False,
    ).fetchall()
    new = {
        (r["scope_set"], r["scope_code"]): r["n"]
        for r in conn.execute(
            """
            SELECT s.scope_set, s.scope_code, count(*) AS n
            FROM engagement_first f JOIN engagement_scopes s USING (scope_id)
            WHERE s.scope_set = ANY(%s) AND f.first_day >= %s AND f.first_day < %s
            GROUP BY s.scope_set, s.scope_code
            """,
            ([view_set, DISTRICT], first, end),
            prepare=False,
        ).fetchall()
    }
    unit_pop, district_pop = populations(conn, view_set)
    days = days_begun(first, today)
    by_scope = {(r["scope_set"], r["scope_code"]): r for r in counts}

    def figures(key: tuple[str, str], population: int | None) -> Figures:
        row = by_scope.get(key)
        return Figures(
            mau=int(row["mau"]) if row else 0,
            active_days=int(row["active_days"]) if row else 0,
            days=days,
            new=int(new.get(key, 0)),
            feedback_submitted=int(row["feedback"]) if row else 0,
            population=population,
        )

    per_unit = {code: figures((view_set, code), pop) for code, pop in unit_pop.items()}
    return per_unit, figures((DISTRICT, DISTRICT), district_pop)


# Distinct subjects of a group of units: each unit of the view set is a scope of its own, so a group's figures are
# counted over the union of its units' rows — a subject active in two of them is one subject, a subject-day one
# active day, and a subject is new when its earliest first day in any of them falls in the month. Every query
# starts from the group's scopes (g: unit code → group).
_GROUP_MONTHLY = """
WITH g AS (SELECT * FROM unnest(%(codes)s::text[], %(groups)s::text[]) AS g(code, grp)),
sc AS (SELECT s.scope_id, g.grp FROM engagement_scopes s JOIN g ON s.scope_code = g.code WHERE s.scope_set = %(set)s)
SELECT sc.grp, count(DISTINCT m.subject_id) FILTER (WHERE m.active_days > 0) AS mau,
       coalesce(sum(m.feedback), 0) AS feedback
FROM engagement_monthly m JOIN sc USING (scope_id) WHERE m.month = %(first)s GROUP BY sc.grp
"""
_GROUP_ACTIVE_DAYS = """
WITH g AS (SELECT * FROM unnest(%(codes)s::text[], %(groups)s::text[]) AS g(code, grp)),
sc AS (SELECT s.scope_id, g.grp FROM engagement_scopes s JOIN g ON s.scope_code = g.code WHERE s.scope_set = %(set)s)
SELECT grp, count(*) AS active_days FROM (
    SELECT DISTINCT sc.grp, d.subject_id, d.day FROM engagement_daily d JOIN sc USING (scope_id)
    WHERE d.foreground > 0 AND d.day >= %(first)s AND d.day < %(end)s
) x GROUP BY grp
"""
_GROUP_NEW = """
WITH g AS (SELECT * FROM unnest(%(codes)s::text[], %(groups)s::text[]) AS g(code, grp)),
sc AS (SELECT s.scope_id, g.grp FROM engagement_scopes s JOIN g ON s.scope_code = g.code WHERE s.scope_set = %(set)s)
SELECT grp, count(*) AS n FROM (
    SELECT sc.grp, f.subject_id, min(f.first_day) AS first_day FROM engagement_first f JOIN sc USING (scope_id)
    WHERE f.first_day < %(end)s GROUP BY sc.grp, f.subject_id
) x WHERE first_day >= %(first)s GROUP BY grp
"""


def group_figures(
    conn: DbConn, view_set: str, month: date, today: date, groups: dict[str, list[str]]
) -> dict[str, Figures]:
    """Figures for groups of units of the view set (a former district, the province: `groups` maps a group's code
    to its units' codes), each counting the distinct subjects across its units, never a sum of their counts.
    Feedback is a count of events, each in one unit of the set, so it adds up. Population: the sum of the units'
    (as `populations` gives them) when every one is known, else blank. Events of units with no unit in the view
    (a split unit's, a finer set's) belong to no group, as they belong to no unit of the view."""
    first, end = month_bounds(month)
    pairs = [(code, grp) for grp, codes in groups.items() for code in codes]
    params = {
        "set": view_set,
        "codes": [c for c, _ in pairs],
        "groups": [g for _, g in pairs],
        "first": first,
        "end": end,
    }
    monthly = {r["grp"]: r for r in conn.execute(_GROUP_MONTHLY, params, prepare=False).fetchall()}
    active = {r["grp"]: int(r["active_days"]) for r in conn.execute(_GROUP_ACTIVE_DAYS, params, prepare=False)}
    new = {r["grp"]: int(r["n"]) for r in conn.execute(_GROUP_NEW, params, prepare=False)}
    unit_pop, _ = populations(conn, view_set)
    days = days_begun(first, today)
    out = {}
    for grp, codes in groups.items():
        pops = [unit_pop.get(c) for c in codes]
        row = monthly.get(grp)
        out[grp] = Figures(
            mau=int(row["mau"]) if row else 0,
            active_days=active.get(grp, 0),
            days=days,
            new=new.get(grp, 0),
            feedback_submitted=int(row["feedback"]) if row else 0,
            population=sum(p for p in pops if p is not None) if pops and None not in pops else None,
        )
    return out


def mau(conn: DbConn, view_set: str, month: date) -> dict[str, int]:
    """Monthly active subjects per unit of the view set (for /units)."""
    rows = conn.execute(
        """
        SELECT s.scope_code, count(*) AS mau FROM engagement_monthly m JOIN engagement_scopes s USING (scope_id)
        WHERE s.scope_set = %s AND m.month = %s AND m.active_days > 0 GROUP BY s.scope_code
        """,
        (view_set, month.replace(day=1)),
        prepare=False,
    ).fetchall()
    return {r["scope_code"]: int(r["mau"]) for r in rows}


def daily_series(conn: DbConn, scope: tuple[str, str], start: date, end: date) -> list[dict]:
    """DAU and events for each day in [start, end) of one scope (days without activity included, as zeros)."""
    rows = conn.execute(
        """
        SELECT d::date AS day, count(e.subject_id) FILTER (WHERE e.foreground > 0) AS dau,
               coalesce(sum(e.events), 0) AS events
        FROM generate_series(%(start)s::date, %(end)s::date - 1, interval '1 day') AS d
        LEFT JOIN engagement_daily e ON e.scope_id = %(scope)s AND e.day = d::date
        GROUP BY d ORDER BY d
        """,
        {"start": start, "end": end, "scope": scope_id(conn, scope)},
        prepare=False,
    ).fetchall()
    return [{"day": r["day"].isoformat(), "dau": int(r["dau"]), "events": int(r["events"])} for r in rows]


def weekly_active(conn: DbConn, scope: tuple[str, str], start: date, end: date) -> list[dict]:
    """WAU for each ISO week (Monday to Sunday) that overlaps [start, end): the week's distinct subjects."""
    monday = start - timedelta(days=start.weekday())
    rows = conn.execute(
        """
        SELECT w::date AS week, count(DISTINCT e.subject_id) AS wau
        FROM generate_series(%(monday)s::date, %(end)s::date - 1, interval '7 days') AS w
        LEFT JOIN engagement_daily e
            ON e.scope_id = %(scope)s AND e.foreground > 0 AND e.day >= w::date AND e.day < w::date + 7
        GROUP BY w ORDER BY w
        """,
        {"monday": monday, "end": end, "scope": scope_id(conn, scope)},
        prepare=False,
    ).fetchall()
    return [{"week_start": r["week"].isoformat(), "wau": int(r["wau"])} for r in rows]


def feature_use(conn: DbConn, scope: tuple[str, str], month: date) -> list[dict]:
    """Events and distinct subjects per event name in the month, most used first. A subject counts for a name
    when its bit is set in the subject's name set for the month (migration 0016)."""
    rows = conn.execute(
        """
        WITH used AS (
            SELECT c.name_id, n.event, c.events
            FROM engagement_name_counts c JOIN engagement_event_names n USING (name_id)
            WHERE c.scope_id = %(scope)s AND c.month = %(month)s
        )
        SELECT u.event, u.events,
               (SELECT count(*) FROM engagement_name_sets s
                WHERE s.scope_id = %(scope)s AND s.month = %(month)s AND s.word = u.name_id / 64
                  AND s.names & (1::bigint << (u.name_id %% 64)) <> 0) AS subjects
        FROM used u ORDER BY u.events DESC, u.event
        """,
        {"scope": scope_id(conn, scope), "month": month.replace(day=1)},
        prepare=False,
    ).fetchall()
    return [{"event": r["event"], "events": int(r["events"]), "subjects": int(r["subjects"])} for r in rows]


def retention(conn: DbConn, scope: tuple[str, str], first_month: date, last_month: date) -> list[dict]:
    """Monthly cohorts from first_month to last_month: each cohort's new subjects and, for each later month up
    to last_month, how many of them were active and what share that is."""
    rows = conn.execute(
        """
        SELECT date_trunc('month', f.first_day)::date AS cohort, m.month, count(*) AS active
        FROM engagement_first f
        JOIN engagement_monthly m USING (scope_id, subject_id)
        WHERE f.scope_id = %s AND m.active_days > 0
          AND f.first_day >= %s AND f.first_day < %s AND m.month <= %s
          AND m.month >= date_trunc('month', f.first_day)
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        (scope_id(conn, scope), first_month, month_bounds(last_month)[1], last_month),
        prepare=False,
    ).fetchall()
    return cohorts([(r["cohort"], r["month"], int(r["active"])) for r in rows], last_month)


def next_month(month: date) -> date:
    return month_bounds(month)[1]


def cohorts(rows: Sequence[tuple[date, date, int]], last_month: date) -> list[dict]:
    """(cohort month, activity month, active subjects) → cohorts with their size and, for every later month up to
    last_month, the subjects still active and their share (0 when none were). A cohort's size is its activity in
    its own month: every new subject is active in the month it is new."""
    active = {(cohort, month): n for cohort, month, n in rows}
    out = []
    for cohort in sorted({c for c, _, _ in rows}):
        size = active.get((cohort, cohort), 0)
        months = []
        month = next_month(cohort)
        while month <= last_month:
            n = active.get((cohort, month), 0)
            months.append({"month": month.isoformat(), "active": n, "share": n / size if size else None})
            month = next_month(month)
        out.append({"cohort": cohort.isoformat(), "size": size, "months": months})
    return out


def district_mau_by_month(
    conn: DbConn, first: date, last: date, *, scope: tuple[str, str] = (DISTRICT, DISTRICT)
) -> list[tuple[date, int]]:
    """The district's MAU (or one unit's: `scope` = (unit set, code)) for each month from `first` to `last` (first
    days of months), months without activity as 0: the briefing's 12-month chart."""
    rows = conn.execute(
        """
        SELECT m.month, count(*) FILTER (WHERE m.active_days > 0) AS mau
        FROM engagement_monthly m JOIN engagement_scopes s USING (scope_id)
        WHERE s.scope_set = %s AND s.scope_code = %s AND m.month BETWEEN %s AND %s GROUP BY m.month
        """,
        (scope[0], scope[1], first, last),
        prepare=False,
    ).fetchall()
    found = {r["month"]: int(r["mau"]) for r in rows}
    months = [first]
    while months[-1] < last:
        months.append(next_month(months[-1]))
    return [(m, found.get(m, 0)) for m in months]
