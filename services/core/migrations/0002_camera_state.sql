-- 0002: what ingest maintains for SPEC §5 (camera state and uptime).

-- The latest heartbeat of each camera: live state, and the start of the open tail [hₙ, W).
CREATE TABLE camera_status (
    camera_id       text PRIMARY KEY REFERENCES cameras (camera_id) ON DELETE CASCADE,
    first_ts        timestamptz NOT NULL,
    last_ts         timestamptz NOT NULL,
    last_status     text NOT NULL,
    last_state      text NOT NULL CHECK (last_state IN ('up', 'degraded', 'down')),
    last_quality    jsonb,
    last_metrics    jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Run-length state intervals of the closed part [h₁, hₙ) of each camera (services/core/uptime.py `spans`),
-- rewritten locally when late or out-of-order heartbeats arrive. Kept forever (SPEC §11).
CREATE TABLE camera_intervals (
    camera_id       text NOT NULL,
    start_ts        timestamptz NOT NULL,
    end_ts          timestamptz NOT NULL,
    state           text NOT NULL CHECK (state IN ('up', 'degraded', 'down')),
    PRIMARY KEY (camera_id, start_ts),
    CHECK (end_ts > start_ts)
);
CREATE INDEX camera_intervals_end_idx ON camera_intervals (end_ts);

-- Cameras whose intervals must be recomputed over [from_ts, to_ts] (the rollup queue). Written in the same
-- transaction as the heartbeats, so a crash never leaves stored heartbeats without their intervals.
CREATE TABLE camera_dirty (
    camera_id       text PRIMARY KEY,
    from_ts         timestamptz NOT NULL,
    to_ts           timestamptz NOT NULL
);
