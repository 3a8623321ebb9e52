-- 0020: the audit trail (issue 31, SPEC §12). One append-only row per change a person or a token makes, and per
-- log-in, failed log-in, lock-out and refusal. Each row carries a hash over its content and the previous row's
-- hash (services/core/audit.py recomputes them: `pulse audit verify`), and `audit_head` holds the last one, so an
-- edit, a deletion or a cut tail made directly in SQL is found.
--
-- Rows are written only through audit_append() (SECURITY DEFINER): the roles the components log in as get no
-- INSERT, UPDATE, DELETE or TRUNCATE on these two tables (0021 grants the API's role the rest).
CREATE TABLE audit_log (
    audit_id bigint PRIMARY KEY,
    at timestamptz NOT NULL,
    actor text,                -- the account; "cli:<system user>@<host>" for a command; "db:<user> (<program>)" in SQL
    token_id bigint,           -- the API token it came with
    address text,              -- the client's address
    action text NOT NULL,      -- "operators.update", "login", "login.failed", "refused", ...
    object_kind text NOT NULL, -- "operators", "maintenance_windows", ... ("" when none)
    object_id text NOT NULL,   -- its key ("7", "2024/15865"; "" when none)
    before jsonb,              -- a row's columns before the change (the changed ones, and the key)
    after jsonb,               -- after it; for an event without a row, what happened (never a secret)
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE audit_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    audit_id bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO audit_head VALUES (true, 0, '');

-- The hash of a row: SHA-256 over its fields, one per line (NULL written \N), the previous row's hash first; `at` as
-- microseconds since 1970; jsonb's text form is canonical (keys ordered, spacing fixed), so the same content always
-- hashes the same.
CREATE FUNCTION audit_hash(
    prev text, audit_id bigint, at timestamptz, actor text, token_id bigint, address text, action text,
    object_kind text, object_id text, before jsonb, after jsonb
) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(array_to_string(ARRAY[
        prev, audit_id::text, (extract(epoch FROM at) * 1000000)::bigint::text, actor, token_id::text, address,
        action, object_kind, object_id, before::text, after::text
    ], E'\n', '\N'), 'UTF8')), 'hex')
$$;

-- Who: what the application set for this transaction (`pulse.actor`: {"actor", "token_id", "address"},
-- services/core/audit.py), else the database user and the program that connected (someone in psql, or a component
-- acting on its own).
CREATE FUNCTION audit_actor() RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        nullif(current_setting('pulse.actor', true), '')::jsonb,
        jsonb_build_object(
            'actor', format('db:%s (%s)', session_user, coalesce(nullif(current_setting('application_name'), ''), 'sql'))
        )
    )
$$;

CREATE FUNCTION audit_append(p_action text, p_kind text, p_id text, p_before jsonb, p_after jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_id bigint;
    v_prev text;
    v_at timestamptz;
    v_who jsonb := audit_actor();
    v_hash text;
BEGIN
    -- One writer at a time: a concurrent one waits here and then reads the head this one leaves (a repeatable-read
    -- transaction gets a serialization error instead of a fork in the chain).
    SELECT audit_id, hash INTO v_id, v_prev FROM audit_head FOR UPDATE;
    v_id := v_id + 1;
    v_at := clock_timestamp();
    v_hash := audit_hash(
        v_prev, v_id, v_at, v_who ->> 'actor', (v_who ->> 'token_id')::bigint, v_who ->> 'address', p_action,
        coalesce(p_kind, ''), coalesce(p_id, ''), p_before, p_after
    );
    INSERT INTO audit_log VALUES (
        v_id, v_at, v_who ->> 'actor', (v_who ->> 'token_id')::bigint, v_who ->> 'address', p_action,
        coalesce(p_kind, ''), coalesce(p_id, ''), p_before, p_after, v_prev, v_hash
    );
    UPDATE audit_head SET audit_id = v_id, hash = v_hash;
    RETURN v_id;
END
$$;

-- A row trigger's entry: the row's change as before → after (an update: only the columns that changed, and the
-- key). Arguments: TG_ARGV[0] the key columns (comma-separated; the object is the table, its id "k1/k2"); [1] secret columns,
-- never shown (an update says whether one changed); [2] bookkeeping the components write on their own (a change of
-- only those is no entry); [3] large columns kept as their SHA-256 (a report's figures); [4] 'person': only when a
-- person's action set `pulse.actor` (incidents, which the alerts engine also changes).
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_keys text[] := string_to_array(TG_ARGV[0], ',');
    v_secret text[] := coalesce(string_to_array(nullif(TG_ARGV[1], ''), ','), '{}');
    v_noise text[] := coalesce(string_to_array(nullif(TG_ARGV[2], ''), ','), '{}');
    v_digest text[] := coalesce(string_to_array(nullif(TG_ARGV[3], ''), ','), '{}');
    v_old jsonb;
    v_new jsonb;
    v_column text;
BEGIN
    IF TG_ARGV[4] = 'person' AND coalesce(current_setting('pulse.actor', true), '') = '' THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN v_old := to_jsonb(OLD) - v_noise; END IF;
    IF TG_OP <> 'DELETE' THEN v_new := to_jsonb(NEW) - v_noise; END IF;
    IF TG_OP = 'UPDATE' THEN
        IF v_old = v_new THEN
            RETURN NULL;  -- only bookkeeping changed
        END IF;
        FOR v_column IN SELECT key FROM jsonb_each(v_new) LOOP
            IF v_old -> v_column = v_new -> v_column AND NOT v_column = ANY (v_keys) THEN
                v_old := v_old - v_column;
                v_new := v_new - v_column;
            END IF;
        END LOOP;
    END IF;
    FOREACH v_column IN ARRAY v_secret || v_digest LOOP
        IF v_old ? v_column THEN
            v_old := v_old || jsonb_build_object(v_column, CASE WHEN v_column = ANY (v_secret) THEN 'secret'
                ELSE 'sha256:' || encode(sha256(convert_to(v_old ->> v_column, 'UTF8')), 'hex') END);
        END IF;
        IF v_new ? v_column THEN
            v_new := v_new || jsonb_build_object(v_column, CASE WHEN v_column = ANY (v_secret) THEN 'secret'
                ELSE 'sha256:' || encode(sha256(convert_to(v_new ->> v_column, 'UTF8')), 'hex') END);
        END IF;
    END LOOP;
    PERFORM audit_append(
        TG_TABLE_NAME || '.' || lower(TG_OP),
        TG_TABLE_NAME,
        array_to_string(ARRAY(SELECT coalesce(v_new, v_old) ->> k FROM unnest(v_keys) AS k), '/'),
        v_old,
        v_new
    );
    RETURN NULL;
END
$$;

CREATE FUNCTION audit_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM audit_append(TG_TABLE_NAME || '.truncate', TG_TABLE_NAME, '', NULL, NULL);
    RETURN NULL;
END
$$;

-- What is audited row by row: (table, key columns, secret columns, bookkeeping columns, digested columns, whose).
-- Camera imports and sessions are recorded by the code (one entry per import, per log-in and log-out) instead.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('operators', 'operator_id', 'password_hash', '', '', ''),
        ('operator_units', 'operator_id,unit_set,unit_code', '', '', '', ''),
        ('api_tokens', 'token_id', 'token_hash', 'last_used_at', '', ''),
        ('apps', 'app_id', 'key_hash', '', '', ''),
        ('gateways', 'gateway_id', 'token_hash', 'watermark', '', ''),
        ('gateway_units', 'gateway_id,unit_set,unit_code', '', '', '', ''),
        ('devices', 'device_id', 'secret_enc,push_token_hash', 'state,state_since,last_error,last_seen_at,updated_at',
            '', ''),
        ('channels', 'channel_id', 'secret', '', '', ''),
        ('maintenance_windows', 'window_id', '', '', '', ''),
        ('units', 'unit_set,code', '', '', '', ''),
        ('unit_targets', 'unit_set,unit_code', '', 'updated_at', '', ''),
        ('unit_sets', 'unit_set', '', '', '', ''),
        ('unit_groups', 'unit_set,code', '', '', '', ''),
        ('unit_mapping', 'from_set,from_code,to_set', '', '', '', ''),
        ('unit_successors', 'from_set,from_code,to_set,to_code', '', '', '', ''),
        ('reports', 'report_id', '', '', 'figures', ''),
        ('incidents', 'incident_id', '', '', '', 'person')
    ) AS v(tab, keys, secret, noise, digest, whose) LOOP
        EXECUTE format(
            'CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON %I FOR EACH ROW '
            'EXECUTE FUNCTION audit_row(%L, %L, %L, %L, %L)',
            t.tab, t.keys, t.secret, t.noise, t.digest, t.whose);
        EXECUTE format(
            'CREATE TRIGGER audit_truncate AFTER TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION audit_truncate()',
            t.tab);
    END LOOP;
END
$$;
