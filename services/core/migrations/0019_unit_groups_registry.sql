-- 0019: unit groups (districts, former districts, the province) decide which units a district operator may see;
-- the API keeps each operator's visible units per registry version (services/core/accounts.py), so a change to
-- them bumps the version too, as units and mappings do (0017).
CREATE TRIGGER live_unit_groups AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON unit_groups
    FOR EACH STATEMENT EXECUTE FUNCTION live_registry_bump();
