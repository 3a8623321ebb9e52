-- 0003: what the prober keeps per camera for the dashboard: the latest thumbnail and the reference picture
-- (its last good frame), as small grey JPEGs. Shown only behind auth; never logged.
CREATE TABLE camera_snapshots (
    camera_id       text NOT NULL REFERENCES cameras (camera_id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('thumbnail', 'reference')),
    jpeg            bytea NOT NULL,
    taken_at        timestamptz NOT NULL,
    PRIMARY KEY (camera_id, kind)
);
