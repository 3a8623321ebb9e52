-- 0004: per-camera prober thresholds (SPEC §4: "configurable thresholds"). A JSON object whose keys are
-- fields of camera_gateway.diagnostics.Thresholds (e.g. {"blur_laplacian": 40} for a foggy field); NULL or a
-- missing key: the documented default.
ALTER TABLE cameras ADD COLUMN probe_thresholds jsonb;
