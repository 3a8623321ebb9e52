-- 0023 (issue 31): API tokens expire (default 90 days, `pulse tokens create --days`) and may be read-only (GET
-- only). Tokens made before get 90 days from this migration: `pulse tokens list` shows when.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
ALTER TABLE api_tokens ADD COLUMN read_only boolean NOT NULL DEFAULT false;
UPDATE api_tokens SET expires_at = now() + interval '90 days' WHERE revoked_at IS NULL;

-- Failed log-ins, per username and per client address, for the throttle every API instance shares
-- (services/core/throttle.py); rows older than a day are removed as new ones come.
CREATE TABLE login_failures (
    key text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);
CREATE INDEX login_failures_at ON login_failures (at);
