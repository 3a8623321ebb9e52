-- 0011: units in a hierarchy with dates (SPEC §3 "Hierarchy"): a unit set has a validity period; above its
-- communes are groups — the province, and before the 2025 reform its districts; every successor of a unit in
-- the official conversion table is kept, whole or partial (`unit_mapping` keeps only those that decide).
ALTER TABLE unit_sets ADD COLUMN valid_from date, ADD COLUMN valid_to date;
ALTER TABLE unit_sets ADD CONSTRAINT unit_sets_validity CHECK (valid_from IS NULL OR valid_to IS NULL OR valid_from < valid_to);

CREATE TABLE unit_groups (
    unit_set        text NOT NULL REFERENCES unit_sets (unit_set),
    code            text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    name            text NOT NULL,
    level           text NOT NULL CHECK (level IN ('province', 'district')),
    parent_code     text,
    PRIMARY KEY (unit_set, code),
    FOREIGN KEY (unit_set, parent_code) REFERENCES unit_groups (unit_set, code)
);

ALTER TABLE units ADD COLUMN group_code text;
ALTER TABLE units ADD CONSTRAINT units_group_fk FOREIGN KEY (unit_set, group_code) REFERENCES unit_groups (unit_set, code);

CREATE TABLE unit_successors (
    from_set        text NOT NULL,
    from_code       text NOT NULL,
    to_set          text NOT NULL,
    to_code         text NOT NULL,
    partly          boolean NOT NULL,   -- the unit was split: this successor took part of it
    PRIMARY KEY (from_set, from_code, to_set, to_code),
    FOREIGN KEY (from_set, from_code) REFERENCES units (unit_set, code),
    FOREIGN KEY (to_set, to_code) REFERENCES units (unit_set, code)
);

-- A camera belongs to one unit in each set (issue 18). In its own set that is its unit; in the successor set the
-- mapping decides where its old unit went whole; where the old unit was split, the operator names the camera's
-- new unit (`pulse cameras import`, column successor_unit_code — one of the official successors). Until then it
-- has none there: "chưa xác định đơn vị", never guessed. Every figure reads a camera's unit in a view from here.
ALTER TABLE cameras ADD COLUMN successor_unit_code text;

CREATE VIEW camera_view_units AS
SELECT c.camera_id, v.unit_set AS view_set,
       CASE WHEN c.unit_set = v.unit_set THEN c.unit_code
            WHEN v.unit_set = own.successor_set AND c.successor_unit_code IS NOT NULL THEN c.successor_unit_code
            ELSE m.to_code END AS view_code
FROM cameras c
CROSS JOIN unit_sets v
JOIN unit_sets own ON own.unit_set = c.unit_set
LEFT JOIN unit_mapping m ON m.from_set = c.unit_set AND m.from_code = c.unit_code AND m.to_set = v.unit_set;
