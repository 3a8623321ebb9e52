-- 0010: devices — cameras, NVRs and camera clouds the gateway collects from in their own protocols (SPEC §4).
-- A device's password or cloud secret must be usable again (the gateway logs in with it), so it is stored
-- encrypted (Fernet under PULSE_DEVICE_KEY), never hashed; it never leaves the database in clear.
CREATE TABLE devices (
    device_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- camera ids are derived from the name (`NAME-chN`, at most 64 characters)
    name            text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._:-]{1,40}$'),
    kind            text NOT NULL CHECK (kind IN ('hikvision', 'dahua', 'onvif', 'ezviz', 'imou')),
    unit_set        text NOT NULL,
    unit_code       text NOT NULL,
    url             text NOT NULL,
    username        text NOT NULL,
    secret_enc      bytea NOT NULL,
    -- hash of the path token of a device that pushes its alarms to the gateway (Hikvision "HTTP listening")
    push_token_hash text UNIQUE,
    options         jsonb NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'connecting'
                    CHECK (state IN ('connecting', 'connected', 'auth_failed', 'unreachable', 'protocol_error')),
    state_since     timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT '',
    last_seen_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (unit_set, unit_code) REFERENCES units (unit_set, code)
);
CREATE INDEX devices_unit_idx ON devices (unit_set, unit_code);

-- A device's channel (its own key: "2", "34", a cloud camera's serial) mapped to a camera id by the operator.
-- Unmapped channels report as camera `NAME-chKEY`, registered like an unknown pushed camera.
CREATE TABLE device_channels (
    device_id       bigint NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    channel         text NOT NULL CHECK (channel ~ '^[A-Za-z0-9._:-]{1,64}$'),
    camera_id       text NOT NULL UNIQUE CHECK (camera_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    PRIMARY KEY (device_id, channel)
);
