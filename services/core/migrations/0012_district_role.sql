-- 0012: the `district` role (issue 18): the operator of a former district's group. Only the district's code is
-- stored; its units are resolved when the operator authenticates (services/core/accounts.py), so units imported
-- later (a new set, a corrected list) are covered without touching the account. District codes are the official
-- national ones, the same in every set that has districts; no foreign key, since a group's key includes its set.
ALTER TABLE operators DROP CONSTRAINT operators_role_check;
ALTER TABLE operators ADD CONSTRAINT operators_role_check CHECK (role IN ('admin', 'viewer', 'commune', 'district'));
ALTER TABLE operators ADD COLUMN district_code text CHECK (district_code ~ '^[A-Za-z0-9_-]{1,32}$');
ALTER TABLE operators ADD CONSTRAINT operators_district_role CHECK ((role = 'district') = (district_code IS NOT NULL));
