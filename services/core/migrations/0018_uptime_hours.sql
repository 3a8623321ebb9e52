-- 0018: the hour rollup beside the day rollup (issue 28). The day rollup (0014) makes whole local days cheap; the
-- part of a day — today so far, and each bucket of the 24-hour chart — still summed every camera's intervals
-- (150,000 rows a piece at province scale: 0.5 s for today, 12 s for the chart's 24 hours). `uptime_hours` holds
-- the same seconds per UTC hour and camera key, kept by the same triggers in the same transaction, so a part-day
-- piece reads whole hours from it and only what is left of its first and last hour from the intervals.
--
-- Hours are kept for recent time only (`uptime_hours_kept.since`, moved forward by the ingest's fold; 35 days by
-- default, services/core/uptime_days.py): readers fall back to the intervals for older part-days. Hours, not local
-- hours: every zone in use has whole-hour offsets, and a zone that does not is still exact (its days' pieces just
-- keep a remainder at both ends).

CREATE TABLE uptime_hours (
    hour            timestamptz NOT NULL,
    unit_set        text NOT NULL,
    unit_code       text NOT NULL,
    successor_code  text NOT NULL,
    state           text NOT NULL,
    micros          bigint NOT NULL,
    PRIMARY KEY (hour, unit_set, unit_code, successor_code, state)
);

-- Append-only, as uptime_day_changes; folded into uptime_hours by the same process.
CREATE TABLE uptime_hour_changes (
    hour            timestamptz NOT NULL,
    unit_set        text NOT NULL,
    unit_code       text NOT NULL,
    successor_code  text NOT NULL,
    state           text NOT NULL,
    micros          bigint NOT NULL
);

CREATE TABLE uptime_hours_kept (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    since           timestamptz NOT NULL
);
INSERT INTO uptime_hours_kept (since) VALUES (date_trunc('hour', now() - interval '35 days', 'UTC'));

-- The cameras a window's service periods clip (installed or retired inside it): found by index, not by reading
-- the registry for every window of a chart.
CREATE INDEX cameras_installed_at_idx ON cameras (installed_at) WHERE installed_at IS NOT NULL;
CREATE INDEX cameras_retired_at_idx ON cameras (retired_at) WHERE retired_at IS NOT NULL;

-- [start_ts, end_ts) cut at whole UTC hours from `since` on: microseconds per hour.
CREATE FUNCTION uptime_hour_parts(start_ts timestamptz, end_ts timestamptz, since timestamptz)
RETURNS TABLE (hour timestamptz, micros bigint) LANGUAGE sql IMMUTABLE AS $$
    SELECT h, (extract(epoch FROM least(end_ts, h + interval '1 hour') - greatest(start_ts, h)) * 1000000)::bigint
    FROM generate_series(date_trunc('hour', greatest(start_ts, since), 'UTC'),
                         end_ts - interval '1 microsecond', interval '1 hour') AS h
    WHERE end_ts > since
$$;

-- The one way signed pieces of stored time enter both rollups: per camera key and state, [a, b) × sign, cut into
-- local days and into kept hours.
CREATE FUNCTION uptime_rollups_add(unit_sets text[], unit_codes text[], successors text[], states text[],
                                   starts timestamptz[], ends timestamptz[], signs int[])
RETURNS void LANGUAGE sql AS $$
    WITH x AS (
        SELECT * FROM unnest(unit_sets, unit_codes, successors, states, starts, ends, signs)
                 AS x(unit_set, unit_code, successor_code, state, a, b, sign)
        WHERE b > a
    ), days AS (
        INSERT INTO uptime_day_changes (day, unit_set, unit_code, successor_code, state, micros)
        SELECT p.day, x.unit_set, x.unit_code, x.successor_code, x.state, sum(x.sign * p.micros)
        FROM x CROSS JOIN LATERAL uptime_day_parts(x.a, x.b, (SELECT tz FROM uptime_day_zone)) p
        GROUP BY 1, 2, 3, 4, 5
    )
    INSERT INTO uptime_hour_changes (hour, unit_set, unit_code, successor_code, state, micros)
    SELECT p.hour, x.unit_set, x.unit_code, x.successor_code, x.state, sum(x.sign * p.micros)
    FROM x CROSS JOIN LATERAL uptime_hour_parts(x.a, x.b, (SELECT since FROM uptime_hours_kept)) p
    GROUP BY 1, 2, 3, 4, 5
$$;

-- 0015's function, its pieces now handed to uptime_rollups_add.
CREATE OR REPLACE FUNCTION uptime_days_follow_intervals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- Old and new rows paired by key and state (one hash join: transition tables have no indexes): a pair
        -- whose end moved changes [old end, new end) only; an old row without a pair goes out whole, a new one
        -- without comes in whole.
        PERFORM uptime_rollups_add(array_agg(c.unit_set), array_agg(c.unit_code),
                                   array_agg(coalesce(c.successor_unit_code, '')), array_agg(x.state),
                                   array_agg(x.a), array_agg(x.b), array_agg(x.sign))
        FROM (
            WITH pairs AS (
                SELECT o.camera_id AS o_camera, o.start_ts AS o_start, o.end_ts AS o_end, o.state AS o_state,
                       n.camera_id AS n_camera, n.start_ts AS n_start, n.end_ts AS n_end, n.state AS n_state
                FROM old_rows o
                FULL JOIN new_rows n ON n.camera_id = o.camera_id AND n.start_ts = o.start_ts AND n.state = o.state
            )
            SELECT n_camera AS camera_id, n_state AS state, least(o_end, n_end) AS a, greatest(o_end, n_end) AS b,
                   CASE WHEN n_end > o_end THEN 1 ELSE -1 END AS sign
            FROM pairs WHERE o_camera IS NOT NULL AND n_camera IS NOT NULL AND n_end <> o_end
            UNION ALL
            SELECT o_camera, o_state, o_start, o_end, -1 FROM pairs WHERE n_camera IS NULL
            UNION ALL
            SELECT n_camera, n_state, n_start, n_end, 1 FROM pairs WHERE o_camera IS NULL
        ) x
        JOIN cameras c ON c.camera_id = x.camera_id;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM uptime_rollups_add(array_agg(c.unit_set), array_agg(c.unit_code),
                                   array_agg(coalesce(c.successor_unit_code, '')), array_agg(o.state),
                                   array_agg(o.start_ts), array_agg(o.end_ts), array_agg(-1))
        FROM old_rows o JOIN cameras c ON c.camera_id = o.camera_id;
    ELSE
        PERFORM uptime_rollups_add(array_agg(c.unit_set), array_agg(c.unit_code),
                                   array_agg(coalesce(c.successor_unit_code, '')), array_agg(n.state),
                                   array_agg(n.start_ts), array_agg(n.end_ts), array_agg(1))
        FROM new_rows n JOIN cameras c ON c.camera_id = n.camera_id;
    END IF;
    RETURN NULL;
END
$$;

-- 0014's function: a camera whose key changes, is registered after its intervals, or is deleted, moves its history.
CREATE OR REPLACE FUNCTION uptime_days_follow_cameras() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM pg_advisory_xact_lock(7370, hashtext(OLD.camera_id));
        PERFORM uptime_rollups_add(array_agg(OLD.unit_set), array_agg(OLD.unit_code),
                                   array_agg(coalesce(OLD.successor_unit_code, '')), array_agg(i.state),
                                   array_agg(i.start_ts), array_agg(i.end_ts), array_agg(-1))
        FROM camera_intervals i WHERE i.camera_id = OLD.camera_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM uptime_rollups_add(array_agg(NEW.unit_set), array_agg(NEW.unit_code),
                                   array_agg(coalesce(NEW.successor_unit_code, '')), array_agg(i.state),
                                   array_agg(i.start_ts), array_agg(i.end_ts), array_agg(1))
        FROM camera_intervals i WHERE i.camera_id = NEW.camera_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION uptime_days_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE uptime_days, uptime_day_changes, uptime_hours, uptime_hour_changes;
    RETURN NULL;
END
$$;

-- The kept hours from the stored intervals (this migration; `uptime_days.keep_hours_since` when the horizon moves
-- back).
CREATE FUNCTION uptime_hours_rebuild() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    kept timestamptz := (SELECT since FROM uptime_hours_kept);
BEGIN
    LOCK TABLE camera_intervals, cameras IN SHARE MODE;
    DELETE FROM uptime_hour_changes;
    DELETE FROM uptime_hours;
    INSERT INTO uptime_hours (hour, unit_set, unit_code, successor_code, state, micros)
    SELECT p.hour, c.unit_set, c.unit_code, coalesce(c.successor_unit_code, ''), i.state, sum(p.micros)
    FROM camera_intervals i
    JOIN cameras c ON c.camera_id = i.camera_id
    CROSS JOIN LATERAL uptime_hour_parts(i.start_ts, i.end_ts, kept) p
    WHERE i.end_ts > kept
    GROUP BY 1, 2, 3, 4, 5;
END
$$;

ALTER FUNCTION uptime_rollups_add(text[], text[], text[], text[], timestamptz[], timestamptz[], int[]) SET jit = off;
ALTER FUNCTION uptime_hours_rebuild() SET jit = off;
-- CREATE OR REPLACE dropped 0015's setting on the trigger functions: no JIT, for the reason given there.
ALTER FUNCTION uptime_days_follow_intervals() SET jit = off;
ALTER FUNCTION uptime_days_follow_cameras() SET jit = off;

SELECT uptime_hours_rebuild();
