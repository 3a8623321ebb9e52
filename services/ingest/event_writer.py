"""Writes a batch of app events in one transaction (the only I/O of app-event ingest besides Kafka).

Claim each event_id in `app_event_seen` (a retry — same event_id, different sent_at — is stored once): one COPY
of the ids when none is taken yet, the usual case (from a savepoint: a taken id fails it), otherwise COPY into a
temporary table and `ON CONFLICT DO NOTHING`. Then COPY the new events into `app_events`, fold them into a few
rows per unit, day and subject (`activity.fold`, in Python: PostgreSQL then upserts a row per subject-day, not
one per event), and add those to the activity tables of every scope their unit belongs to: the unit, the unit
it maps to in a coarser set, and the district ('*', '*'). Everything or nothing: the consumer commits Kafka
offsets only after this transaction has committed, so a replayed batch finds its event_ids taken and changes
nothing."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from services.core.db import DbConn, copy_in
from services.ingest import activity
from services.ingest.app_events import EventRow

# Retried events can only match while they are inside the acceptance window (7 days late + 23 h of clock error
# ahead, SPEC §7); ids are kept a little longer, measured against the newest id rather than the wall clock so a
# replay of old data still deduplicates.
SEEN_KEEP_DAYS = 10

EVENT_COLUMNS = EventRow._fields[:-1]  # the row less its local day
EVENT_TYPES = (
    "timestamptz",
    "uuid",
    "text",
    "text",
    "text",
    "text",
    "text",
    "int8",
    "text",
    "text",
    "jsonb",
    "timestamptz",
    "bool",
)
_CLAIM_COLUMNS = ("event_id", "received_at")
_CLAIM_TYPES = ("uuid", "timestamptz")

_CREATE_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS ev_claim (event_id uuid, received_at timestamptz) ON COMMIT DELETE ROWS",
    """CREATE TEMP TABLE IF NOT EXISTS ev_days (
        unit_set text, unit_code text, day date, subject text, events integer, foreground integer, feedback integer
    ) ON COMMIT DELETE ROWS""",
    """CREATE TEMP TABLE IF NOT EXISTS ev_name_sets (
        unit_set text, unit_code text, month date, subject text, word smallint, names bigint
    ) ON COMMIT DELETE ROWS""",
    """CREATE TEMP TABLE IF NOT EXISTS ev_name_counts (
        unit_set text, unit_code text, month date, name_id integer, events bigint
    ) ON COMMIT DELETE ROWS""",
    "CREATE TEMP TABLE IF NOT EXISTS ev_scopes (unit_set text, unit_code text, scope_id integer) ON COMMIT DELETE ROWS",
)
_DAY_TYPES = ("text", "text", "date", "text", "int4", "int4", "int4")
_NAME_SET_TYPES = ("text", "text", "date", "text", "int2", "int8")
_NAME_COUNT_TYPES = ("text", "text", "date", "int4", "int8")

# The careful path, when an id of the batch is already taken: claim the rest one by one, see which were claimed.
_CLAIM = """
INSERT INTO app_event_seen (event_id, received_at) SELECT event_id, received_at FROM ev_claim
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

# Event names get their ids (their bits, migration 0016) in name order, so two writers adding the same new names
# take their locks in the same order; only missing names are inserted (an id is a bit: none is burnt).
_NEW_NAMES = """
INSERT INTO engagement_event_names (event)
SELECT e FROM unnest(%s::text[]) AS e
WHERE NOT EXISTS (SELECT 1 FROM engagement_event_names n WHERE n.event = e)
ORDER BY e
ON CONFLICT (event) DO NOTHING
"""
_NAME_IDS = "SELECT event, name_id FROM engagement_event_names WHERE event = ANY(%s)"

# Subjects and scopes get their small ids the first time they are seen (only the missing ones are inserted, so
# the identity sequences do not burn a number per event).
_NEW_SUBJECTS = """
INSERT INTO app_subjects (subject)
SELECT DISTINCT d.subject FROM ev_days d
WHERE NOT EXISTS (SELECT 1 FROM app_subjects s WHERE s.subject = d.subject)
ORDER BY 1
ON CONFLICT (subject) DO NOTHING
"""

_NEW_SCOPES = """
INSERT INTO engagement_scopes (scope_set, scope_code)
SELECT u.unit_set, u.code FROM units u
WHERE NOT EXISTS (SELECT 1 FROM engagement_scopes s WHERE s.scope_set = u.unit_set AND s.scope_code = u.code)
ON CONFLICT (scope_set, scope_code) DO NOTHING
"""

# Every scope a unit of the batch belongs to: the unit, the unit it maps to in each coarser set, the district. A
# unit not in the reference data (or no unit: activity.NO_UNIT) is the district's only.
_SCOPES = """
WITH u AS (SELECT DISTINCT unit_set, unit_code FROM ev_days)
INSERT INTO ev_scopes (unit_set, unit_code, scope_id)
SELECT u.unit_set, u.unit_code, s.scope_id
FROM u JOIN engagement_scopes s ON s.scope_set = u.unit_set AND s.scope_code = u.unit_code
UNION ALL
SELECT u.unit_set, u.unit_code, s.scope_id
FROM u JOIN unit_mapping m ON m.from_set = u.unit_set AND m.from_code = u.unit_code
JOIN engagement_scopes s ON s.scope_set = m.to_set AND s.scope_code = m.to_code
UNION ALL
SELECT u.unit_set, u.unit_code, (SELECT scope_id FROM engagement_scopes WHERE scope_set = '*' AND scope_code = '*')
FROM u
"""

# A day row that had no foreground event before this batch and has one now is a new active day for the month:
# the row's foreground total after the upsert equals this batch's own count exactly then. Rows go in key order,
# so the index pages they touch are visited once, in sequence.
_DAILY_AND_MONTHLY = """
WITH batch AS (
    SELECT sc.scope_id, d.day, s.subject_id, sum(d.events) AS events, sum(d.foreground) AS foreground,
           sum(d.feedback) AS feedback
    FROM ev_days d
    JOIN ev_scopes sc USING (unit_set, unit_code)
    JOIN app_subjects s ON s.subject = d.subject
    GROUP BY 1, 2, 3
), daily AS (
    INSERT INTO engagement_daily AS d (scope_id, day, subject_id, events, foreground)
    SELECT scope_id, day, subject_id, events, foreground FROM batch ORDER BY scope_id, day, subject_id
    ON CONFLICT (scope_id, day, subject_id) DO UPDATE
        SET events = d.events + EXCLUDED.events, foreground = d.foreground + EXCLUDED.foreground
    RETURNING scope_id, day, subject_id, foreground AS foreground_total
), monthly AS (
    INSERT INTO engagement_monthly AS m (scope_id, month, subject_id, active_days, events, feedback)
    SELECT b.scope_id, date_trunc('month', b.day)::date, b.subject_id,
           count(*) FILTER (WHERE b.foreground > 0 AND d.foreground_total = b.foreground),
           sum(b.events), sum(b.feedback)
    FROM batch b JOIN daily d USING (scope_id, day, subject_id)
    GROUP BY b.scope_id, date_trunc('month', b.day), b.subject_id
    ORDER BY 1, 2, 3
    ON CONFLICT (scope_id, month, subject_id) DO UPDATE
        SET active_days = m.active_days + EXCLUDED.active_days,
            events = m.events + EXCLUDED.events,
            feedback = m.feedback + EXCLUDED.feedback
)
INSERT INTO engagement_first AS f (scope_id, subject_id, first_day)
SELECT scope_id, subject_id, min(day) FROM batch WHERE foreground > 0
GROUP BY scope_id, subject_id
ORDER BY 1, 2
ON CONFLICT (scope_id, subject_id) DO UPDATE SET first_day = EXCLUDED.first_day
WHERE EXCLUDED.first_day < f.first_day
"""

_NAME_SETS = """
INSERT INTO engagement_name_sets AS f (scope_id, month, subject_id, word, names)
SELECT sc.scope_id, n.month, s.subject_id, n.word, bit_or(n.names)
FROM ev_name_sets n
JOIN ev_scopes sc USING (unit_set, unit_code)
JOIN app_subjects s ON s.subject = n.subject
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4
ON CONFLICT (scope_id, month, subject_id, word) DO UPDATE SET names = f.names | EXCLUDED.names
"""

# The only rows two writers share (their subjects are disjoint): the last statement of the transaction, so a
# writer holds their locks for the moment before its commit, and in key order, so two never deadlock.
_NAME_COUNTS = """
INSERT INTO engagement_name_counts AS c (scope_id, month, name_id, events)
SELECT sc.scope_id, n.month, n.name_id, sum(n.events)
FROM ev_name_counts n JOIN ev_scopes sc USING (unit_set, unit_code)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
ON CONFLICT (scope_id, month, name_id) DO UPDATE SET events = c.events + EXCLUDED.events
"""

_PRUNE_SEEN = """
DELETE FROM app_event_seen WHERE event_id IN (
    SELECT event_id FROM app_event_seen
    WHERE received_at < (SELECT max(received_at) FROM app_event_seen) - make_interval(days => %s)
    LIMIT 50000
)
"""


def write_events(conn: DbConn, rows: Sequence[EventRow]) -> int:
    """Stores the batch; returns how many events were new (the rest were already stored)."""
    if not rows:
        return 0
    with conn.transaction():
        for statement in _CREATE_STAGE:
            conn.execute(statement)
        try:
            # The fast path: claim every id with one COPY (replays and retries are the exception); the batch is
            # then all new. An id already claimed, or twice in the batch, fails it back to the savepoint.
            claims = ((r.event_id, r.received_at) for r in rows)
            with conn.transaction():
                copy_in(conn, "app_event_seen", _CLAIM_COLUMNS, _CLAIM_TYPES, claims)
            new = rows
        except psycopg.errors.UniqueViolation:
            new = _claim_one_by_one(conn, rows)
        if not new:
            return 0
        copy_in(conn, "app_events", EVENT_COLUMNS, EVENT_TYPES, (row[:-1] for row in new))
        names = sorted({row.event for row in new})
        conn.execute(_NEW_NAMES, (names,))
        name_ids = {r["event"]: r["name_id"] for r in conn.execute(_NAME_IDS, (names,))}
        folded = activity.fold(new, name_ids)
        copy_in(conn, "ev_days", activity.Day._fields, _DAY_TYPES, folded.days)
        copy_in(conn, "ev_name_sets", activity.NameSet._fields, _NAME_SET_TYPES, folded.name_sets)
        copy_in(conn, "ev_name_counts", activity.NameCount._fields, _NAME_COUNT_TYPES, folded.name_counts)
        conn.execute(_NEW_SUBJECTS)
        conn.execute(_NEW_SCOPES)
        conn.execute(_SCOPES)
        conn.execute(_DAILY_AND_MONTHLY)
        conn.execute(_NAME_SETS)
        conn.execute(_NAME_COUNTS)
    return len(new)


def _claim_one_by_one(conn: DbConn, rows: Sequence[EventRow]) -> list[EventRow]:
    """The events of the batch whose id this batch claims: the first delivery (earliest received_at) of each id
    not stored before. The rest are retries and replays."""
    first: dict[object, int] = {}  # event_id → index of its first delivery in the batch
    for i, row in enumerate(rows):
        held = first.get(row.event_id)
        if held is None or row.received_at < rows[held].received_at:
            first[row.event_id] = i
    claims = ((rows[i].event_id, rows[i].received_at) for i in first.values())
    copy_in(conn, "ev_claim", _CLAIM_COLUMNS, _CLAIM_TYPES, claims)
    claimed = {r["event_id"] for r in conn.execute(_CLAIM)}
    return [rows[i] for event_id, i in first.items() if event_id in claimed]


def prune_seen(conn: DbConn) -> int:
    """Forgets event ids that can no longer come back (see SEEN_KEEP_DAYS); returns how many were dropped."""
    return conn.execute(_PRUNE_SEEN, (SEEN_KEEP_DAYS,)).rowcount
