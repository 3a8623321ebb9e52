-- 0017: what the API's live model (services/api/live.py, issue 28) reads to stay current at the cost of what
-- changed, not of the fleet.
--
-- Each camera's latest heartbeat carries the transaction that last wrote it. A reader that remembers the oldest
-- transaction still running when it last read (pg_snapshot_xmin) re-reads only the rows written since: every
-- transaction older than that had finished, so its rows were already seen. Exact under concurrent writers, and
-- an index range read of the last moments' changes instead of 150,000 rows.
ALTER TABLE camera_status ADD COLUMN changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX camera_status_changed_idx ON camera_status (changed_xid);

-- Everything else the live model holds changes seldom (the registry, gateways, units and their mappings): one
-- counter, bumped by any statement that changed such rows (or removed latest heartbeats), tells the reader to
-- load the fleet again.
CREATE TABLE live_registry (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version         bigint NOT NULL
);
INSERT INTO live_registry VALUES (true, 0);

CREATE FUNCTION live_registry_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE live_registry SET version = version + 1;
    RETURN NULL;
END
$$;

-- For tables the writer touches on every batch with statements that usually change nothing (registering unknown
-- cameras, moving a camera to the gateway that reports it): bump only when rows did change.
CREATE FUNCTION live_registry_bump_if_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        UPDATE live_registry SET version = version + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER live_cameras_added AFTER INSERT ON cameras REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump_if_rows();
CREATE TRIGGER live_cameras_changed AFTER UPDATE ON cameras REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump_if_rows();
CREATE TRIGGER live_cameras_removed AFTER DELETE ON cameras REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump_if_rows();
CREATE TRIGGER live_status_removed AFTER DELETE ON camera_status REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump_if_rows();
CREATE TRIGGER live_cameras_truncated AFTER TRUNCATE ON cameras
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump();
CREATE TRIGGER live_status_truncated AFTER TRUNCATE ON camera_status
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump();
-- Gateways: added, removed, revoked (their watermarks are read on every refresh, not through this counter).
CREATE TRIGGER live_gateways_added AFTER INSERT OR DELETE OR TRUNCATE ON gateways
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump();
CREATE TRIGGER live_gateways_revoked AFTER UPDATE OF revoked_at ON gateways
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump();
-- Units, sets and mappings decide a camera's unit in each view (unit_key_views).
CREATE TRIGGER live_unit_sets AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON unit_sets
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump();
CREATE TRIGGER live_units AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON units
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump();
CREATE TRIGGER live_unit_mapping AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON unit_mapping
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump();
CREATE TRIGGER live_unit_successors AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON unit_successors
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump();
