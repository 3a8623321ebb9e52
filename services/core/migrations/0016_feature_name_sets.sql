-- 0016: feature use kept as each subject's set of event names per month, not a row per event name (issue 19).
--
-- Feature use (SPEC §8) is, per scope and month, the events and the distinct subjects of each event name. 0005 kept
-- a row per scope, month, event name and subject: the largest activity table (3.5 rows per subject-month) and
-- the writer's costliest upsert. Now a subject's month in a scope is one row holding the names it sent as bits of
-- a bigint (one row per 64 names: `word`), merged with OR; the event totals are one row per scope, month and name.
-- Distinct subjects of a name = the rows whose bit is set: exact, as before.

-- Every event name ever stored gets a small id, its bit: name_id = word × 64 + bit.
CREATE TABLE engagement_event_names (
    name_id         integer GENERATED ALWAYS AS IDENTITY (MINVALUE 0 START WITH 0) PRIMARY KEY,
    event           text NOT NULL UNIQUE
);

CREATE TABLE engagement_name_sets (
    scope_id        integer NOT NULL,
    month           date NOT NULL,             -- first day of the month
    subject_id      bigint NOT NULL,
    word            smallint NOT NULL,
    names           bigint NOT NULL,           -- bit i: sent the event name with id word × 64 + i this month
    PRIMARY KEY (scope_id, month, subject_id, word)
) WITH (fillfactor = 80);

CREATE TABLE engagement_name_counts (
    scope_id        integer NOT NULL,
    month           date NOT NULL,
    name_id         integer NOT NULL,
    events          bigint NOT NULL,
    PRIMARY KEY (scope_id, month, name_id)
) WITH (fillfactor = 80);

-- What 0005's table held, carried over exactly.
INSERT INTO engagement_event_names (event) SELECT DISTINCT event FROM engagement_features ORDER BY 1;

INSERT INTO engagement_name_sets (scope_id, month, subject_id, word, names)
SELECT f.scope_id, f.month, f.subject_id, (n.name_id / 64)::smallint, bit_or(1::bigint << (n.name_id % 64))
FROM engagement_features f JOIN engagement_event_names n USING (event)
GROUP BY 1, 2, 3, 4;

INSERT INTO engagement_name_counts (scope_id, month, name_id, events)
SELECT f.scope_id, f.month, n.name_id, sum(f.events)
FROM engagement_features f JOIN engagement_event_names n USING (event)
GROUP BY 1, 2, 3;

DROP TABLE engagement_features;
