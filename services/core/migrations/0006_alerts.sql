-- 0006: incidents, maintenance windows, notification channels and the notification outbox (SPEC §6).

-- An incident and its life: opened by `pulse alerts`, acknowledged by an operator, resolved when the condition
-- ends. `merged_into`: a camera incident absorbed by a commune outage before anyone was told about it.
CREATE TABLE incidents (
    incident_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN
                        ('camera_down', 'camera_degraded', 'commune_outage', 'gateway_down', 'pipeline_stalled')),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    unit_set        text,
    unit_code       text,
    camera_ids      text[] NOT NULL DEFAULT '{}',
    gateway_id      bigint REFERENCES gateways (gateway_id) ON DELETE SET NULL,
    opened_at       timestamptz NOT NULL,
    resolved_at     timestamptz,
    resolution      text,                                    -- recovered, maintenance, merged, …
    merged_into     bigint REFERENCES incidents (incident_id),
    acknowledged_by text,
    acknowledged_at timestamptz,
    ack_note        text,
    notified_at     timestamptz,                             -- the "opened" message was queued
    reminded_at     timestamptz,
    resolved_notified_at timestamptz,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX incidents_open_idx ON incidents (kind) WHERE status = 'open';
CREATE INDEX incidents_unit_idx ON incidents (unit_set, unit_code, opened_at DESC);
-- At most one open incident per camera and kind, per unit for outages, per gateway, and one pipeline incident:
-- two leaders racing (which the advisory lock prevents) could still not open the same incident twice.
CREATE UNIQUE INDEX incidents_one_open_camera ON incidents (kind, (camera_ids[1]))
    WHERE status = 'open' AND kind IN ('camera_down', 'camera_degraded');
CREATE UNIQUE INDEX incidents_one_open_outage ON incidents (unit_set, unit_code)
    WHERE status = 'open' AND kind = 'commune_outage';
CREATE UNIQUE INDEX incidents_one_open_gateway ON incidents (gateway_id) WHERE status = 'open' AND kind = 'gateway_down';
CREATE UNIQUE INDEX incidents_one_open_pipeline ON incidents (kind) WHERE status = 'open' AND kind = 'pipeline_stalled';

-- Each state change of a camera as the alerts engine saw it (flapping: more than 4 in 30 minutes).
CREATE TABLE camera_changes (
    camera_id       text NOT NULL,
    at              timestamptz NOT NULL,
    state           text NOT NULL,
    PRIMARY KEY (camera_id, at)
);
CREATE TABLE camera_flapping (
    camera_id       text PRIMARY KEY,
    since           timestamptz NOT NULL,
    notified_at     timestamptz
);

-- Maintenance windows (SPEC §6): one-off [starts_at, ends_at), or weekly on ISO weekdays (1 = Monday) between two
-- local times (PULSE_TIMEZONE; end before start runs past midnight). Scope: one camera, one unit, or everything.
CREATE TABLE maintenance_windows (
    window_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    camera_id       text REFERENCES cameras (camera_id) ON DELETE CASCADE,
    unit_set        text,
    unit_code       text,
    starts_at       timestamptz,
    ends_at         timestamptz,
    weekdays        smallint[],
    local_start     time,
    local_end       time,
    note            text NOT NULL DEFAULT '',
    created_by      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (unit_set, unit_code) REFERENCES units (unit_set, code),
    CHECK (camera_id IS NULL OR unit_code IS NULL),
    CHECK ((starts_at IS NOT NULL AND ends_at > starts_at AND weekdays IS NULL)
        OR (starts_at IS NULL AND weekdays IS NOT NULL AND local_start IS NOT NULL AND local_end IS NOT NULL
            AND local_start <> local_end))
);

-- Where notifications go. `units` empty: every unit (and pipeline incidents, which have none). The secret signs
-- webhooks, or is the Telegram bot token / Zalo OA access token; it is never returned by the API.
CREATE TABLE channels (
    channel_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('webhook', 'telegram', 'email', 'zalo')),
    target          text NOT NULL,                          -- URL, chat id, e-mail address, Zalo user id
    secret          text,
    lang            text NOT NULL DEFAULT 'vi' CHECK (lang IN ('vi', 'en')),
    unit_set        text,
    unit_codes      text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz
);

-- The outbox: written in the same transaction as the incidents it reports, delivered by the leader with retries.
-- The idempotency key is unique, so the same message is never queued twice, and receivers can drop repeats.
CREATE TABLE notifications (
    notification_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    channel_id      bigint NOT NULL REFERENCES channels (channel_id) ON DELETE CASCADE,
    event           text NOT NULL CHECK (event IN ('opened', 'reminder', 'resolved', 'flapping')),
    incident_ids    bigint[] NOT NULL,
    unit_code       text,
    subject         text NOT NULL,
    body            text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz
);
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status = 'pending';
