-- 0005: app-event ingest and the activity tables behind every engagement figure (SPEC §7, §8).
--
-- Ingest writes each accepted event once (deduplicated on event_id) into `app_events`, and folds it into
-- activity rows per *scope*: the unit named by the event, the unit it maps to in each coarser set (the 2025 xã of
-- a 2024 commune) and the district ('*', '*'). Every §8 figure is then a count or a sum over one scope's rows —
-- never a sum of distinct counts across days or units.

-- One row per event ever stored. The hypertable cannot be unique on event_id alone (its unique indexes must
-- hold the time column, and a retried event's corrected event_time moves by its transit time), so this table
-- is the deduplication key. Rows older than the acceptance window (7 days + 23 h of clock error) can never
-- be matched again; ingest prunes them after 10 days.
CREATE TABLE app_event_seen (
    event_id        uuid PRIMARY KEY,
    received_at     timestamptz NOT NULL
);
CREATE INDEX app_event_seen_received_idx ON app_event_seen (received_at);

ALTER TABLE app_events ADD COLUMN background boolean NOT NULL DEFAULT false;

-- Activity is keyed by small integers: a subject's HMAC (64 hex characters) and a scope's (set, code) are
-- stored once here, so the activity tables and their indexes stay narrow (ingest upserts several rows per event).
CREATE TABLE app_subjects (
    subject_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject         text NOT NULL UNIQUE
);

CREATE TABLE engagement_scopes (
    scope_id        integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope_set       text NOT NULL,
    scope_code      text NOT NULL,
    UNIQUE (scope_set, scope_code)
);
INSERT INTO engagement_scopes (scope_set, scope_code) VALUES ('*', '*');  -- the district

-- The activity tables are mostly updated in place (another event of the same subject and day): room left in each
-- page (fillfactor 80) lets those updates stay on the page without touching the indexes (HOT updates).

-- A subject's day in a scope: active when at least one foreground event was sent (SPEC §8).
CREATE TABLE engagement_daily (
    scope_id        integer NOT NULL,
    day             date NOT NULL,
    subject_id      bigint NOT NULL,
    events          integer NOT NULL,
    foreground      integer NOT NULL,
    PRIMARY KEY (scope_id, day, subject_id)
) WITH (fillfactor = 80);

-- The same subject over a calendar month: how many days it was active, what it sent.
CREATE TABLE engagement_monthly (
    scope_id        integer NOT NULL,
    month           date NOT NULL,             -- first day of the month
    subject_id      bigint NOT NULL,
    active_days     integer NOT NULL,
    events          integer NOT NULL,
    feedback        integer NOT NULL,          -- feedback_submitted events
    PRIMARY KEY (scope_id, month, subject_id)
) WITH (fillfactor = 80);

-- The first day a subject was ever active in a scope (lowered when late events arrive): new vs returning,
-- and the monthly retention cohorts.
CREATE TABLE engagement_first (
    scope_id        integer NOT NULL,
    subject_id      bigint NOT NULL,
    first_day       date NOT NULL,
    PRIMARY KEY (scope_id, subject_id)
) WITH (fillfactor = 80);
CREATE INDEX engagement_first_day_idx ON engagement_first (scope_id, first_day);

-- Feature use: per scope, month, event name and subject, how many such events.
CREATE TABLE engagement_features (
    scope_id        integer NOT NULL,
    month           date NOT NULL,
    event           text NOT NULL,
    subject_id      bigint NOT NULL,
    events          integer NOT NULL,
    PRIMARY KEY (scope_id, month, event, subject_id)
) WITH (fillfactor = 80);
