-- 0022 (issue 31): a maintenance window takes time out of the availability's denominator (SPEC §5), so one set
-- after the time it covers began changes figures already seen: it needs a reason, which the monthly briefing's
-- annex prints with who set it and when. A weekly window is in force from `in_force_from` (when it was set,
-- unless given earlier with a reason); windows made before this column keep their reach over all time (NULL).
ALTER TABLE maintenance_windows ADD COLUMN reason text NOT NULL DEFAULT '';
ALTER TABLE maintenance_windows ADD COLUMN in_force_from timestamptz;
