-- 0024 (issue 31): channels' secrets and cameras' stream URLs (RTSP URLs carry a password) stored sealed under
-- PULSE_DEVICE_KEY like device secrets (services/core/sealing.py). `pulse migrate` seals the values stored in
-- clear in the same transaction (services/core/migrate.py), and 0025 drops the columns that held them.
ALTER TABLE channels ADD COLUMN secret_enc bytea;
ALTER TABLE cameras ADD COLUMN stream_url_enc bytea;
-- HMAC-SHA256 of the URL under a key derived from PULSE_DEVICE_KEY: an import tells an unchanged URL without
-- decrypting it.
ALTER TABLE cameras ADD COLUMN stream_url_digest bytea;
ALTER TABLE cameras ADD CONSTRAINT stream_url_sealed_whole
    CHECK ((stream_url_enc IS NULL) = (stream_url_digest IS NULL));

-- The audit trail never shows a secret, sealed or not (0020).
DROP TRIGGER audit ON channels;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON channels FOR EACH ROW
    EXECUTE FUNCTION audit_row('channel_id', 'secret,secret_enc', '', '', '');
