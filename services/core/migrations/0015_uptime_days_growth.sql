-- 0015: the day rollup's triggers made cheap (issue 19). An interval that only grew (or shrank) at its end changes
-- the rollup by the difference, not by its whole length taken away and added back: ingest extends a camera's last
-- interval with every batch of in-order heartbeats, and a steady camera's interval can be a month long. And no JIT
-- (below).
CREATE OR REPLACE FUNCTION uptime_days_follow_intervals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    zone text := (SELECT tz FROM uptime_day_zone);
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- Old and new rows paired by key and state (one hash join: transition tables have no indexes): a pair
        -- whose end moved changes [old end, new end) only; an old row without a pair goes out whole, a new one
        -- without comes in whole.
        INSERT INTO uptime_day_changes (day, unit_set, unit_code, successor_code, state, micros)
        WITH pairs AS (
            SELECT o.camera_id AS o_camera, o.start_ts AS o_start, o.end_ts AS o_end, o.state AS o_state,
                   n.camera_id AS n_camera, n.start_ts AS n_start, n.end_ts AS n_end, n.state AS n_state
            FROM old_rows o
            FULL JOIN new_rows n ON n.camera_id = o.camera_id AND n.start_ts = o.start_ts AND n.state = o.state
        ), pieces AS (
            SELECT n_camera AS camera_id, n_state AS state, least(o_end, n_end) AS a, greatest(o_end, n_end) AS b,
                   CASE WHEN n_end > o_end THEN 1 ELSE -1 END AS sign
            FROM pairs WHERE o_camera IS NOT NULL AND n_camera IS NOT NULL AND n_end <> o_end
            UNION ALL
            SELECT o_camera, o_state, o_start, o_end, -1 FROM pairs WHERE n_camera IS NULL
            UNION ALL
            SELECT n_camera, n_state, n_start, n_end, 1 FROM pairs WHERE o_camera IS NULL
        )
        SELECT p.day, c.unit_set, c.unit_code, coalesce(c.successor_unit_code, ''), x.state, sum(x.sign * p.micros)
        FROM pieces x
        JOIN cameras c ON c.camera_id = x.camera_id
        CROSS JOIN LATERAL uptime_day_parts(x.a, x.b, zone) p
        GROUP BY 1, 2, 3, 4, 5;
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO uptime_day_changes (day, unit_set, unit_code, successor_code, state, micros)
        SELECT p.day, c.unit_set, c.unit_code, coalesce(c.successor_unit_code, ''), o.state, -sum(p.micros)
        FROM old_rows o
        JOIN cameras c ON c.camera_id = o.camera_id
        CROSS JOIN LATERAL uptime_day_parts(o.start_ts, o.end_ts, zone) p
        GROUP BY 1, 2, 3, 4, 5;
    END IF;
    IF TG_OP = 'INSERT' THEN
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

-- The planner cannot know how few rows a transition table or a day cut holds (it guesses 1,000 days an interval),
-- so its cost passed PostgreSQL's JIT threshold on every statement and compiling took ≈ 0.3 s each time, for
-- work of a few milliseconds (seen in auto_explain). These functions never run a query that JIT would help.
ALTER FUNCTION uptime_days_follow_intervals() SET jit = off;
ALTER FUNCTION uptime_days_follow_cameras() SET jit = off;
ALTER FUNCTION uptime_days_rebuild() SET jit = off;
