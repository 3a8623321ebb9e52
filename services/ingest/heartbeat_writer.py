"""Writes a batch of heartbeats in one transaction (the only I/O of heartbeat ingest besides Kafka).

COPY into a temporary staging table, then set-based statements: register unknown cameras (`unregistered`, under
the delivering gateway's unit), insert heartbeats deduplicated on (camera_id, ts), record the latest heartbeat
per camera, queue the touched time ranges for the rollup, and move each gateway's watermark. Everything or
nothing: the consumer commits Kafka offsets only after this transaction has committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.core.db import DbConn
from services.ingest.heartbeats import HeartbeatRow, KeepAlive

STAGE_COLUMNS = (
    "camera_id",
    "ts",
    "status",
    "state",
    "seq",
    "metrics",
    "quality",
    "gateway_id",
    "unit_set",
    "unit_code",
    "received_at",
)

STAGE_TYPES = ("text", "timestamptz", "text", "text", "int8", "text", "text", "int8", "text", "text", "timestamptz")

_CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS hb_stage (
    camera_id text, ts timestamptz, status text, state text, seq bigint, metrics text, quality text,
    gateway_id bigint, unit_set text, unit_code text, received_at timestamptz
) ON COMMIT DELETE ROWS
"""

_REGISTER_UNKNOWN = """
INSERT INTO cameras (camera_id, unit_set, unit_code, registered, gateway_id)
SELECT DISTINCT ON (s.camera_id) s.camera_id, s.unit_set, s.unit_code, false, s.gateway_id
FROM hb_stage s
WHERE NOT EXISTS (SELECT 1 FROM cameras c WHERE c.camera_id = s.camera_id)
ORDER BY s.camera_id, s.ts
ON CONFLICT (camera_id) DO NOTHING
"""

_INSERT_AND_QUEUE = """
WITH ins AS (
    INSERT INTO heartbeats (ts, camera_id, status, seq, metrics, quality, gateway_id, received_at)
    SELECT DISTINCT ON (camera_id, ts)
           ts, camera_id, status, seq, metrics::jsonb, quality::jsonb, gateway_id, received_at
    FROM hb_stage ORDER BY camera_id, ts, received_at
    ON CONFLICT (camera_id, ts) DO NOTHING
    RETURNING camera_id, ts
), touched AS (
    SELECT camera_id, min(ts) AS from_ts, max(ts) AS to_ts, count(*) AS n FROM ins GROUP BY camera_id
), queued AS (
    INSERT INTO camera_dirty (camera_id, from_ts, to_ts)
    SELECT camera_id, from_ts, to_ts FROM touched
    ON CONFLICT (camera_id) DO UPDATE
        SET from_ts = least(camera_dirty.from_ts, EXCLUDED.from_ts),
            to_ts = greatest(camera_dirty.to_ts, EXCLUDED.to_ts)
)
SELECT coalesce(sum(n), 0)::bigint AS inserted FROM touched
"""

_LATEST = """
INSERT INTO camera_status AS cs (camera_id, first_ts, last_ts, last_status, last_state, last_quality, last_metrics)
SELECT DISTINCT ON (camera_id) camera_id, min(ts) OVER (PARTITION BY camera_id), ts, status, state, quality::jsonb,
       metrics::jsonb
FROM hb_stage ORDER BY camera_id, ts DESC
ON CONFLICT (camera_id) DO UPDATE SET
    first_ts = least(cs.first_ts, EXCLUDED.first_ts),
    last_ts = CASE WHEN EXCLUDED.last_ts > cs.last_ts THEN EXCLUDED.last_ts ELSE cs.last_ts END,
    last_status = CASE WHEN EXCLUDED.last_ts > cs.last_ts THEN EXCLUDED.last_status ELSE cs.last_status END,
    last_state = CASE WHEN EXCLUDED.last_ts > cs.last_ts THEN EXCLUDED.last_state ELSE cs.last_state END,
    last_quality = CASE WHEN EXCLUDED.last_ts > cs.last_ts THEN EXCLUDED.last_quality ELSE cs.last_quality END,
    last_metrics = CASE WHEN EXCLUDED.last_ts > cs.last_ts THEN EXCLUDED.last_metrics ELSE cs.last_metrics END,
    updated_at = now()
WHERE EXCLUDED.last_ts > cs.last_ts OR EXCLUDED.first_ts < cs.first_ts
"""

_GATEWAY_OF_CAMERA = """
UPDATE cameras c SET gateway_id = s.gateway_id, updated_at = now()
FROM (SELECT DISTINCT ON (camera_id) camera_id, gateway_id FROM hb_stage ORDER BY camera_id, ts DESC) s
WHERE c.camera_id = s.camera_id AND c.gateway_id IS DISTINCT FROM s.gateway_id
"""

# A gateway's watermark never runs ahead of the moment the gateway received the data (a camera clock
# up to 2 minutes fast must not make its neighbours look silent).
_WATERMARKS = """
UPDATE gateways g SET watermark = greatest(g.watermark, w.ts)
FROM (
    SELECT gateway_id, max(least(ts, received_at)) AS ts
    FROM (SELECT gateway_id, ts, received_at FROM hb_stage
          UNION ALL SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[])) AS all_ts
    GROUP BY gateway_id
) w
WHERE g.gateway_id = w.gateway_id AND (g.watermark IS NULL OR g.watermark < w.ts)
"""


@dataclass(frozen=True)
class WriteResult:
    received: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.received - self.inserted


def write_batch(conn: DbConn, rows: Sequence[HeartbeatRow], keepalives: Sequence[KeepAlive] = ()) -> WriteResult:
    with conn.transaction():
        conn.execute(_CREATE_STAGE)
        inserted = 0
        if rows:
            # Binary COPY: no text formatting of timestamps on either side.
            with conn.cursor().copy(f"COPY hb_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(STAGE_TYPES)
                for row in rows:
                    copy.write_row(row)
            conn.execute(_REGISTER_UNKNOWN)
            result = conn.execute(_INSERT_AND_QUEUE).fetchone()
            inserted = int(result["inserted"]) if result else 0
            conn.execute(_LATEST)
            conn.execute(_GATEWAY_OF_CAMERA)
        conn.execute(
            _WATERMARKS,
            ([k.gateway_id for k in keepalives], [k.ts for k in keepalives], [k.received_at for k in keepalives]),
        )
    return WriteResult(received=len(rows), inserted=inserted)
