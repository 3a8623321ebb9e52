-- 0021: `pulse_app`, the group role of the logins the components run as when they are not the schema's owner
-- (PULSE_API_DATABASE_URL: the API's, which people reach). It reads and changes the data, and may only add to the
-- audit trail, through audit_append(): no INSERT, UPDATE, DELETE or TRUNCATE of audit_log or audit_head, and
-- not the owner of anything, so it cannot drop a trigger or grant itself more. Creating it needs CREATEROLE (the
-- owner of a local or docker-compose cluster has it); a login joins it with `GRANT pulse_app TO <login>`.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pulse_app') THEN
        CREATE ROLE pulse_app NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO pulse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO pulse_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO pulse_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_log, audit_head FROM pulse_app;
-- Tables and sequences later migrations make (by the owner that runs them) are granted the same way.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO pulse_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO pulse_app;
