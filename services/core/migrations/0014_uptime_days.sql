-- 0014: seconds per state and local day, per camera "key" — the three columns that decide a camera's unit in
-- every set (its unit_set, unit_code and, for a split unit, successor_unit_code). A month's uptime for a
-- province then reads ≈ 166 units × 31 days × 3 states rows instead of every camera's intervals (issue 18,
-- docs/benchmarks.md §13). Kept exact, in microseconds, by triggers: every change to `camera_intervals`, and every
-- camera whose key changes (its history moves with it), appends signed changes to `uptime_day_changes`, which the
-- ingest rollup folds into `uptime_days`; readers sum both, so the figure never waits for the fold. Invariant:
-- the sum over both tables for (day, key, state) = the seconds of that day in that state of the intervals of the
-- cameras that have that key now.

-- A camera key's unit in every set: the one home of the rule, read by `camera_view_units` (one camera) and by
-- the day rollup (one key). Keys: every unit with no successor named, and every official successor.
CREATE VIEW unit_key_views AS
WITH keys AS (
    SELECT unit_set, code AS unit_code, '' AS successor_code FROM units
    UNION
    SELECT from_set, from_code, to_code FROM unit_successors
)
SELECT k.unit_set, k.unit_code, k.successor_code, v.unit_set AS view_set,
       CASE WHEN k.unit_set = v.unit_set THEN k.unit_code
            WHEN v.unit_set = own.successor_set AND k.successor_code <> '' THEN k.successor_code
            ELSE m.to_code END AS view_code
FROM keys k
CROSS JOIN unit_sets v
JOIN unit_sets own ON own.unit_set = k.unit_set
LEFT JOIN unit_mapping m ON m.from_set = k.unit_set AND m.from_code = k.unit_code AND m.to_set = v.unit_set;

-- Same columns as 0011's view; a camera whose key is unknown (its unit is in no list) has no unit in any set.
CREATE OR REPLACE VIEW camera_view_units AS
SELECT c.camera_id, v.unit_set AS view_set, kv.view_code
FROM cameras c
CROSS JOIN unit_sets v
LEFT JOIN unit_key_views kv
       ON kv.unit_set = c.unit_set AND kv.unit_code = c.unit_code
      AND kv.successor_code = coalesce(c.successor_unit_code, '') AND kv.view_set = v.unit_set;

-- The zone whose local days the rollup counts (`pulse migrate` sets the deployment's PULSE_TIMEZONE and rebuilds
-- when it changes; readers take their day boundaries from here, so a figure is exact whatever the zone).
CREATE TABLE uptime_day_zone (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    tz              text NOT NULL
);
INSERT INTO uptime_day_zone (tz) VALUES ('Asia/Ho_Chi_Minh');

CREATE TABLE uptime_days (
    day             date NOT NULL,
    unit_set        text NOT NULL,
    unit_code       text NOT NULL,
    successor_code  text NOT NULL,      -- '' when the camera names none
    state           text NOT NULL,
    micros          bigint NOT NULL,
    PRIMARY KEY (day, unit_set, unit_code, successor_code, state)
);

-- Append-only, so concurrent rollups never wait on each other's rows; folded into uptime_days by one process.
CREATE TABLE uptime_day_changes (
    day             date NOT NULL,
    unit_set        text NOT NULL,
    unit_code       text NOT NULL,
    successor_code  text NOT NULL,
    state           text NOT NULL,
    micros          bigint NOT NULL
);

-- [start_ts, end_ts) cut at the local midnights of `tz`: microseconds per local day.
CREATE FUNCTION uptime_day_parts(start_ts timestamptz, end_ts timestamptz, tz text)
RETURNS TABLE (day date, micros bigint) LANGUAGE sql STABLE AS $$
    SELECT d::date,
           (extract(epoch FROM least(end_ts, (d + interval '1 day') AT TIME ZONE tz)
                               - greatest(start_ts, d AT TIME ZONE tz)) * 1000000)::bigint
    FROM generate_series(date_trunc('day', start_ts AT TIME ZONE tz),
                         date_trunc('day', (end_ts - interval '1 microsecond') AT TIME ZONE tz),
                         interval '1 day') AS d
$$;

CREATE FUNCTION uptime_days_follow_intervals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    zone text := (SELECT tz FROM uptime_day_zone);
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO uptime_day_changes (day, unit_set, unit_code, successor_code, state, micros)
        SELECT p.day, c.unit_set, c.unit_code, coalesce(c.successor_unit_code, ''), o.state, -sum(p.micros)
        FROM old_rows o
        JOIN cameras c ON c.camera_id = o.camera_id
        CROSS JOIN LATERAL uptime_day_parts(o.start_ts, o.end_ts, zone) p
        GROUP BY 1, 2, 3, 4, 5;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO uptime_day_changes (day, unit_set, unit_code, successor_code, state, micros)
        SELECT p.day, c.unit_set, c.unit_code, coalesce(c.successor_unit_code, ''), n.state, sum(p.micros)
        FROM new_rows n
        JOIN cameras c ON c.camera_id = n.camera_id
        CROSS JOIN LATERAL uptime_day_parts(n.start_ts, n.end_ts, zone) p
        GROUP BY 1, 2, 3, 4, 5;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER uptime_days_on_insert AFTER INSERT ON camera_intervals
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION uptime_days_follow_intervals();
CREATE TRIGGER uptime_days_on_delete AFTER DELETE ON camera_intervals
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION uptime_days_follow_intervals();
CREATE TRIGGER uptime_days_on_update AFTER UPDATE ON camera_intervals
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION uptime_days_follow_intervals();

-- A camera whose key changes takes its history along (the operator names a split unit's successor, or moves a
-- camera); one registered after its intervals were stored brings them; one deleted takes them away. The rollup's
-- per-camera lock (services/ingest/rollup.py) keeps a concurrent rollup of the same camera from being missed.
CREATE FUNCTION uptime_days_follow_cameras() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    zone text := (SELECT tz FROM uptime_day_zone);
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM pg_advisory_xact_lock(7370, hashtext(OLD.camera_id));
        INSERT INTO uptime_day_changes (day, unit_set, unit_code, successor_code, state, micros)
        SELECT p.day, OLD.unit_set, OLD.unit_code, coalesce(OLD.successor_unit_code, ''), i.state, -sum(p.micros)
        FROM camera_intervals i CROSS JOIN LATERAL uptime_day_parts(i.start_ts, i.end_ts, zone) p
        WHERE i.camera_id = OLD.camera_id
        GROUP BY 1, 2, 3, 4, 5;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO uptime_day_changes (day, unit_set, unit_code, successor_code, state, micros)
        SELECT p.day, NEW.unit_set, NEW.unit_code, coalesce(NEW.successor_unit_code, ''), i.state, sum(p.micros)
        FROM camera_intervals i CROSS JOIN LATERAL uptime_day_parts(i.start_ts, i.end_ts, zone) p
        WHERE i.camera_id = NEW.camera_id
        GROUP BY 1, 2, 3, 4, 5;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER uptime_days_camera_key AFTER UPDATE OF unit_set, unit_code, successor_unit_code ON cameras
    FOR EACH ROW
    WHEN ((OLD.unit_set, OLD.unit_code, OLD.successor_unit_code)
          IS DISTINCT FROM (NEW.unit_set, NEW.unit_code, NEW.successor_unit_code))
    EXECUTE FUNCTION uptime_days_follow_cameras();
CREATE TRIGGER uptime_days_camera_added AFTER INSERT ON cameras
    FOR EACH ROW EXECUTE FUNCTION uptime_days_follow_cameras();
CREATE TRIGGER uptime_days_camera_removed AFTER DELETE ON cameras
    FOR EACH ROW EXECUTE FUNCTION uptime_days_follow_cameras();

-- Emptying either table empties the rollup (the test suite and benchmarks truncate).
CREATE FUNCTION uptime_days_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE uptime_days, uptime_day_changes;
    RETURN NULL;
END
$$;
CREATE TRIGGER uptime_days_intervals_truncated AFTER TRUNCATE ON camera_intervals
    FOR EACH STATEMENT EXECUTE FUNCTION uptime_days_truncate();
CREATE TRIGGER uptime_days_cameras_truncated AFTER TRUNCATE ON cameras
    FOR EACH STATEMENT EXECUTE FUNCTION uptime_days_truncate();

-- Everything from the stored intervals, in the zone of uptime_day_zone (this migration, and a change of zone).
CREATE FUNCTION uptime_days_rebuild() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    zone text := (SELECT tz FROM uptime_day_zone);
BEGIN
    LOCK TABLE camera_intervals, cameras IN SHARE MODE;
    DELETE FROM uptime_day_changes;
    DELETE FROM uptime_days;
    INSERT INTO uptime_days (day, unit_set, unit_code, successor_code, state, micros)
    SELECT p.day, c.unit_set, c.unit_code, coalesce(c.successor_unit_code, ''), i.state, sum(p.micros)
    FROM camera_intervals i
    JOIN cameras c ON c.camera_id = i.camera_id
    CROSS JOIN LATERAL uptime_day_parts(i.start_ts, i.end_ts, zone) p
    GROUP BY 1, 2, 3, 4, 5;
END
$$;

SELECT uptime_days_rebuild();
