"""Writes a batch of app events in one transaction (the only I/O of app-event ingest besides Kafka).

Claim each event_id in `app_event_seen` (a retry — same event_id, different sent_at — is stored once): one COPY
of the ids when none is taken yet, the usual case (from a savepoint: a taken id fails it), otherwise COPY into a
temporary staging table and `ON CONFLICT DO NOTHING`. Then insert the new events into `app_events`, and fold
them into the activity tables of every scope the event belongs to: its unit, the unit that unit maps to in a
coarser set, and the district ('*', '*'). Everything or nothing: the consumer commits Kafka offsets only after
this transaction has committed, so a replayed batch finds its event_ids taken and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from services.core.db import DbConn, copy_in
from services.ingest.app_events import EventRow

# Retried events can only match while they are inside the acceptance window (7 days late + 23 h of clock error
# ahead, SPEC §7); ids are kept a little longer, measured against the newest id rather than the wall clock so a
# replay of old data still deduplicates.
SEEN_KEEP_DAYS = 10

STAGE_COLUMNS = EventRow._fields
STAGE_TYPES = (
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
    "text",
    "timestamptz",
    "bool",
    "date",
)

_CREATE_STAGE = (
    """CREATE TEMP TABLE IF NOT EXISTS ev_stage (
        event_time timestamptz, event_id uuid, event text, subject text, unit_set text, unit_code text,
        session_id text, app_id bigint, platform text, app_version text, properties text, received_at timestamptz,
        background bool, day date
    ) ON COMMIT DELETE ROWS""",
    "CREATE TEMP TABLE IF NOT EXISTS ev_new (LIKE ev_stage) ON COMMIT DELETE ROWS",
    """CREATE TEMP TABLE IF NOT EXISTS ev_scoped (
        scope_id integer, day date, subject_id bigint, event text, background bool
    ) ON COMMIT DELETE ROWS""",
)

# The careful path: the first delivery of each event_id wins; the rest of the batch and earlier batches are
# duplicates.
_CLAIM = """
WITH firsts AS (
    SELECT DISTINCT ON (event_id) * FROM ev_stage ORDER BY event_id, received_at
), claimed AS (
    INSERT INTO app_event_seen (event_id, received_at) SELECT event_id, received_at FROM firsts
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
INSERT INTO ev_new SELECT f.* FROM firsts f JOIN claimed c ON c.event_id = f.event_id
"""

_STORE = """
INSERT INTO app_events (event_time, event_id, event, subject, unit_set, unit_code, session_id, app_id,
                        platform, app_version, properties, received_at, background)
SELECT event_time, event_id, event, subject, unit_set, unit_code, session_id, app_id,
       platform, app_version, properties::jsonb, received_at, background
FROM ev_new
"""

# Subjects and scopes get their small ids the first time they are seen (only the missing ones are inserted, so
# the identity sequences do not burn a number per event).
_NEW_SUBJECTS = """
INSERT INTO app_subjects (subject)
SELECT DISTINCT n.subject FROM ev_new n
WHERE NOT EXISTS (SELECT 1 FROM app_subjects s WHERE s.subject = n.subject)
ORDER BY 1
ON CONFLICT (subject) DO NOTHING
"""

_NEW_SCOPES = """
INSERT INTO engagement_scopes (scope_set, scope_code)
SELECT u.unit_set, u.code FROM units u
WHERE NOT EXISTS (SELECT 1 FROM engagement_scopes s WHERE s.scope_set = u.unit_set AND s.scope_code = u.code)
ON CONFLICT (scope_set, scope_code) DO NOTHING
"""

# Each event in every scope it belongs to: its unit, that unit's unit in the successor set, the district.
_SCOPE = """
WITH n AS (
    SELECT e.unit_set, e.unit_code, e.day, s.subject_id, e.event, e.background
    FROM ev_new e JOIN app_subjects s ON s.subject = e.subject
), placed AS (
    SELECT unit_set AS scope_set, unit_code AS scope_code, day, subject_id, event, background FROM n
    UNION ALL
    SELECT m.to_set, m.to_code, n.day, n.subject_id, n.event, n.background
    FROM n JOIN unit_mapping m ON m.from_set = n.unit_set AND m.from_code = n.unit_code
)
INSERT INTO ev_scoped (scope_id, day, subject_id, event, background)
SELECT sc.scope_id, p.day, p.subject_id, p.event, p.background
FROM placed p JOIN engagement_scopes sc ON sc.scope_set = p.scope_set AND sc.scope_code = p.scope_code
UNION ALL
SELECT (SELECT scope_id FROM engagement_scopes WHERE scope_set = '*' AND scope_code = '*'),
       n.day, n.subject_id, n.event, n.background
FROM n
"""

# A day row that had no foreground event before this batch and has one now is a new active day for the month:
# the row's foreground total after the upsert equals this batch's own count exactly then. Rows go in key order,
# so the index pages they touch are visited once, in sequence.
_DAILY_AND_MONTHLY = """
WITH batch AS (
    SELECT scope_id, day, subject_id, count(*) AS events,
           count(*) FILTER (WHERE NOT background) AS foreground,
           count(*) FILTER (WHERE event = 'feedback_submitted') AS feedback
    FROM ev_scoped GROUP BY scope_id, day, subject_id
), daily AS (
    INSERT INTO engagement_daily AS d (scope_id, day, subject_id, events, foreground)
    SELECT scope_id, day, subject_id, events, foreground FROM batch ORDER BY scope_id, day, subject_id
    ON CONFLICT (scope_id, day, subject_id) DO UPDATE
        SET events = d.events + EXCLUDED.events, foreground = d.foreground + EXCLUDED.foreground
    RETURNING scope_id, day, subject_id, foreground AS foreground_total
)
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
"""

_FIRST = """
INSERT INTO engagement_first AS f (scope_id, subject_id, first_day)
SELECT scope_id, subject_id, min(day) FROM ev_scoped WHERE NOT background
GROUP BY scope_id, subject_id
ORDER BY 1, 2
ON CONFLICT (scope_id, subject_id) DO UPDATE SET first_day = EXCLUDED.first_day
WHERE EXCLUDED.first_day < f.first_day
"""

_FEATURES = """
INSERT INTO engagement_features AS f (scope_id, month, event, subject_id, events)
SELECT scope_id, date_trunc('month', day)::date, event, subject_id, count(*) FROM ev_scoped
GROUP BY scope_id, date_trunc('month', day), event, subject_id
ORDER BY 1, 2, 3, 4
ON CONFLICT (scope_id, month, event, subject_id) DO UPDATE SET events = f.events + EXCLUDED.events
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
            with conn.transaction():
                ids = ((row.event_id, row.received_at) for row in rows)
                copy_in(conn, "app_event_seen", ("event_id", "received_at"), ("uuid", "timestamptz"), ids)
            copy_in(conn, "ev_new", STAGE_COLUMNS, STAGE_TYPES, rows)
            inserted = len(rows)
        except psycopg.errors.UniqueViolation:
            copy_in(conn, "ev_stage", STAGE_COLUMNS, STAGE_TYPES, rows)
            inserted = conn.execute(_CLAIM).rowcount
        conn.execute(_STORE)
        conn.execute(_NEW_SUBJECTS)
        conn.execute(_NEW_SCOPES)
        conn.execute(_SCOPE)
        conn.execute(_DAILY_AND_MONTHLY)
        conn.execute(_FIRST)
        conn.execute(_FEATURES)
    return inserted


def prune_seen(conn: DbConn) -> int:
    """Forgets event ids that can no longer come back (see SEEN_KEEP_DAYS); returns how many were dropped."""
    return conn.execute(_PRUNE_SEEN, (SEEN_KEEP_DAYS,)).rowcount
