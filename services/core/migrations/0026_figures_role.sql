-- 0026 (issue 31): `pulse_figures`, the group role of logins that read the figures and nothing about people or
-- secrets: Grafana's (`pulse_grafana`, which `pulse migrate` creates when PULSE_GRAFANA_DB_PASSWORD is set). It may
-- read the registry of cameras and units, live state, history, uptime rollups, incidents and engagement counts.
-- It may not read accounts, sessions, tokens, apps, gateways, devices, channels, notifications, the audit trail,
-- reports, maintenance windows, app events or subjects (pseudonymous citizens), camera pictures, stream URLs,
-- cameras' addresses, or who acknowledged an incident and what they wrote. Nothing is granted by default: a table
-- later migrations add stays closed to it until one grants it here on purpose.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pulse_figures') THEN
        CREATE ROLE pulse_figures NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO pulse_figures;
GRANT SELECT ON
    camera_status, camera_intervals, camera_flapping, heartbeats,
    units, unit_sets, unit_groups, unit_mapping, unit_successors, unit_targets, unit_key_views, camera_view_units,
    uptime_days, uptime_hours, uptime_hours_kept, uptime_day_zone,
    engagement_daily, engagement_monthly, engagement_first, engagement_scopes, engagement_name_sets,
    engagement_name_counts, engagement_event_names
TO pulse_figures;
GRANT SELECT (camera_id, unit_set, unit_code, name, lat, lon, interval_s, grace_s, tags, installed_at, retired_at,
              registered, gateway_id, created_at, updated_at, successor_unit_code)
    ON cameras TO pulse_figures;
GRANT SELECT (incident_id, kind, status, unit_set, unit_code, camera_ids, gateway_id, opened_at, resolved_at,
              resolution, merged_into, acknowledged_at, notified_at, reminded_at, resolved_notified_at, detail)
    ON incidents TO pulse_figures;
