-- 0007: an operator can tell the prober to forget a camera's reference picture (the camera was moved on purpose,
-- or the scene changed for good); the next good probe becomes the new reference.
ALTER TABLE cameras ADD COLUMN reference_reset_at timestamptz;
