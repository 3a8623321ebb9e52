"""Writes a batch of app events in one transaction (the only I/O of app-event ingest besides Kafka).

COPY into a temporary staging table, then set-based statements: claim each event_id in `app_event_seen` (a
retry — same event_id, different sent_at — is stored once), insert the new events into `app_events`, and fold
them into the activity tables of every scope the event belongs to: its unit, the unit that unit maps to in a
coarser set, and the district ('*', '*'). Everything or nothing: the consumer commits Kafka offsets only after
this transaction has committed, so a replayed batch finds its event_ids taken and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.core.db import DbConn
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
        scope_set text, scope_code text, day date, subject text, event text, background bool
    ) ON COMMIT DELETE ROWS""",
)

# The first delivery of each event_id wins; the rest of the batch and earlier batches are duplicates.
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

# '*', '*' is the district's scope (services.core.engagement.DISTRICT).
_SCOPE = """
INSERT INTO ev_scoped (scope_set, scope_code, day, subject, event, background)
SELECT n.unit_set, n.unit_code, n.day, n.subject, n.event, n.background
FROM ev_new n JOIN units u ON u.unit_set = n.unit_set AND u.code = n.unit_code
UNION ALL
SELECT m.to_set, m.to_code, n.day, n.subject, n.event, n.background
FROM ev_new n JOIN unit_mapping m ON m.from_set = n.unit_set AND m.from_code = n.unit_code
UNION ALL
SELECT '*', '*', n.day, n.subject, n.event, n.background FROM ev_new n
"""

# A day row that had no foreground event before this batch and has one now is a new active day for the month:
# the row's foreground total after the upsert equals this batch's own count exactly then.
_DAILY_AND_MONTHLY = """
WITH batch AS (
    SELECT scope_set, scope_code, day, subject, count(*) AS events,
           count(*) FILTER (WHERE NOT background) AS foreground,
           count(*) FILTER (WHERE event = 'feedback_submitted') AS feedback
    FROM ev_scoped GROUP BY scope_set, scope_code, day, subject
), daily AS (
    INSERT INTO engagement_daily AS d (scope_set, scope_code, day, subject, events, foreground)
    SELECT scope_set, scope_code, day, subject, events, foreground FROM batch
    ON CONFLICT (scope_set, scope_code, day, subject) DO UPDATE
        SET events = d.events + EXCLUDED.events, foreground = d.foreground + EXCLUDED.foreground
    RETURNING scope_set, scope_code, day, subject, foreground AS foreground_total
)
INSERT INTO engagement_monthly AS m (scope_set, scope_code, month, subject, active_days, events, feedback)
SELECT b.scope_set, b.scope_code, date_trunc('month', b.day)::date, b.subject,
       count(*) FILTER (WHERE b.foreground > 0 AND d.foreground_total = b.foreground),
       sum(b.events), sum(b.feedback)
FROM batch b JOIN daily d USING (scope_set, scope_code, day, subject)
GROUP BY b.scope_set, b.scope_code, date_trunc('month', b.day), b.subject
ON CONFLICT (scope_set, scope_code, month, subject) DO UPDATE
    SET active_days = m.active_days + EXCLUDED.active_days,
        events = m.events + EXCLUDED.events,
        feedback = m.feedback + EXCLUDED.feedback
"""

_FIRST = """
INSERT INTO engagement_first AS f (scope_set, scope_code, subject, first_day)
SELECT scope_set, scope_code, subject, min(day) FROM ev_scoped WHERE NOT background
GROUP BY scope_set, scope_code, subject
ON CONFLICT (scope_set, scope_code, subject) DO UPDATE SET first_day = EXCLUDED.first_day
WHERE EXCLUDED.first_day < f.first_day
"""

_FEATURES = """
INSERT INTO engagement_features AS f (scope_set, scope_code, month, event, subject, events)
SELECT scope_set, scope_code, date_trunc('month', day)::date, event, subject, count(*) FROM ev_scoped
GROUP BY scope_set, scope_code, date_trunc('month', day), event, subject
ON CONFLICT (scope_set, scope_code, month, event, subject) DO UPDATE SET events = f.events + EXCLUDED.events
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
        with conn.cursor().copy(f"COPY ev_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(STAGE_TYPES)
            for row in rows:
                copy.write_row(row)
        inserted = conn.execute(_CLAIM).rowcount
        conn.execute(_STORE)
        conn.execute(_SCOPE)
        conn.execute(_DAILY_AND_MONTHLY)
        conn.execute(_FIRST)
        conn.execute(_FEATURES)
    return inserted


def prune_seen(conn: DbConn) -> int:
    """Forgets event ids that can no longer come back (see SEEN_KEEP_DAYS); returns how many were dropped."""
    return conn.execute(_PRUNE_SEEN, (SEEN_KEEP_DAYS,)).rowcount
