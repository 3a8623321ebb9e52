-- 0001: reference data, auth, and the two hypertables (SPEC §3, §4, §7, §11).
-- Applied once by `pulse migrate` inside one transaction; never edited after release (add 0002_… instead).

CREATE EXTENSION IF NOT EXISTS timescaledb;

-- Administrative units are versioned: identified by (unit_set, code); codes repeat across sets.
CREATE TABLE unit_sets (
    unit_set        text PRIMARY KEY CHECK (unit_set ~ '^[A-Za-z0-9_-]{1,32}$'),
    description     text NOT NULL DEFAULT '',
    successor_set   text REFERENCES unit_sets (unit_set)
);

CREATE TABLE units (
    unit_set        text NOT NULL REFERENCES unit_sets (unit_set),
    code            text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    name            text NOT NULL,
    kind            text NOT NULL DEFAULT '',
    population      integer CHECK (population >= 0),          -- operator-entered, never invented
    households      integer CHECK (households >= 0),
    population_note text NOT NULL DEFAULT '',                  -- e.g. source, or "synthetic (demo)"
    PRIMARY KEY (unit_set, code)
);

-- Each unit of a finer set maps to exactly one unit of its successor set.
CREATE TABLE unit_mapping (
    from_set        text NOT NULL,
    from_code       text NOT NULL,
    to_set          text NOT NULL,
    to_code         text NOT NULL,
    PRIMARY KEY (from_set, from_code, to_set),
    FOREIGN KEY (from_set, from_code) REFERENCES units (unit_set, code),
    FOREIGN KEY (to_set, to_code) REFERENCES units (unit_set, code)
);

-- Gateways push heartbeats for the cameras of their units. Only a SHA-256 of the token is kept.
CREATE TABLE gateways (
    gateway_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    token_hash      text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    -- latest ts this gateway has delivered for any camera or as its own keep-alive (SPEC §5)
    watermark       timestamptz
);

CREATE TABLE gateway_units (
    gateway_id      bigint NOT NULL REFERENCES gateways (gateway_id) ON DELETE CASCADE,
    unit_set        text NOT NULL,
    unit_code       text NOT NULL,
    PRIMARY KEY (gateway_id, unit_set, unit_code),
    FOREIGN KEY (unit_set, unit_code) REFERENCES units (unit_set, code)
);

CREATE TABLE cameras (
    camera_id       text PRIMARY KEY CHECK (camera_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    unit_set        text NOT NULL,
    unit_code       text NOT NULL,
    name            text NOT NULL DEFAULT '',
    address         text NOT NULL DEFAULT '',
    lat             double precision CHECK (lat BETWEEN -90 AND 90),
    lon             double precision CHECK (lon BETWEEN -180 AND 180),
    interval_s      integer NOT NULL DEFAULT 60 CHECK (interval_s > 0),
    grace_s         integer CHECK (grace_s >= 0),             -- NULL means G = I (SPEC §5)
    stream_url      text,                                     -- secret: never returned, never logged
    tags            text[] NOT NULL DEFAULT '{}',
    installed_at    timestamptz,
    retired_at      timestamptz,
    registered      boolean NOT NULL DEFAULT true,            -- false: auto-registered from a heartbeat
    gateway_id      bigint REFERENCES gateways (gateway_id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (unit_set, unit_code) REFERENCES units (unit_set, code)
);
CREATE INDEX cameras_unit_idx ON cameras (unit_set, unit_code);

-- Camera heartbeats (SPEC §4). A duplicate (camera_id, ts) is stored once.
CREATE TABLE heartbeats (
    ts              timestamptz NOT NULL,
    camera_id       text NOT NULL,
    status          text NOT NULL CHECK (status IN ('ok', 'degraded', 'down')),
    seq             bigint,
    metrics         jsonb,
    quality         jsonb,
    gateway_id      bigint,
    received_at     timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('heartbeats', 'ts', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX heartbeats_camera_ts_idx ON heartbeats (camera_id, ts);

-- App events (SPEC §7), already pseudonymized: `subject` is an HMAC, never a raw id.
CREATE TABLE app_events (
    event_time      timestamptz NOT NULL,
    event_id        uuid NOT NULL,
    event           text NOT NULL,
    subject         text NOT NULL,
    unit_set        text,
    unit_code       text,
    session_id      text,
    app_id          bigint,
    platform        text,
    app_version     text,
    properties      jsonb,
    received_at     timestamptz NOT NULL
);
SELECT create_hypertable('app_events', 'event_time', chunk_time_interval => interval '7 days');
CREATE INDEX app_events_unit_time_idx ON app_events (unit_set, unit_code, event_time);

-- Client apps send events with a public app key; kept hashed so a database leak cannot forge traffic.
CREATE TABLE apps (
    app_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    key_hash        text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);

-- Operators (SPEC §3): admin, viewer, commune (scoped to units).
CREATE TABLE operators (
    operator_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
    role            text NOT NULL CHECK (role IN ('admin', 'viewer', 'commune')),
    password_hash   text,                                     -- argon2id; NULL: token-only account
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz
);

CREATE TABLE operator_units (
    operator_id     bigint NOT NULL REFERENCES operators (operator_id) ON DELETE CASCADE,
    unit_set        text NOT NULL,
    unit_code       text NOT NULL,
    PRIMARY KEY (operator_id, unit_set, unit_code),
    FOREIGN KEY (unit_set, unit_code) REFERENCES units (unit_set, code)
);

CREATE TABLE api_tokens (
    token_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id     bigint NOT NULL REFERENCES operators (operator_id) ON DELETE CASCADE,
    token_hash      text NOT NULL UNIQUE,
    label           text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
