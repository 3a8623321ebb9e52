-- 0025 (issue 31): the columns that held channels' secrets and stream URLs in clear, sealed by 0024's step.
DO $$
BEGIN
    IF EXISTS (SELECT FROM channels WHERE secret IS NOT NULL AND secret_enc IS NULL)
        OR EXISTS (SELECT FROM cameras WHERE stream_url IS NOT NULL AND stream_url_enc IS NULL) THEN
        RAISE EXCEPTION 'secrets stored in clear are not sealed yet: nothing dropped';
    END IF;
END
$$;
ALTER TABLE channels DROP COLUMN secret;
ALTER TABLE cameras DROP COLUMN stream_url;
DROP TRIGGER audit ON channels;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON channels FOR EACH ROW
    EXECUTE FUNCTION audit_row('channel_id', 'secret_enc', '', '', '');
