-- 0008: dashboard log-in sessions (SPEC §10: "a session cookie"). Only the SHA-256 of the session id is kept,
-- like API tokens; a session ends at its expiry, at log-out, or when its operator is disabled.
CREATE TABLE sessions (
    session_hash    text PRIMARY KEY,
    operator_id     bigint NOT NULL REFERENCES operators (operator_id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
