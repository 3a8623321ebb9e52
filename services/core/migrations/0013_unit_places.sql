-- 0013: where a unit is (issue 18, the map): its centroid, from the shipped places files (reference/places/) or
-- an operator's. A point, not a boundary: no offline source of commune boundaries was found. NULL when unknown.
ALTER TABLE units ADD COLUMN lat double precision, ADD COLUMN lon double precision;
ALTER TABLE units ADD CONSTRAINT units_place CHECK (
    (lat IS NULL) = (lon IS NULL)
    AND (lat IS NULL OR (lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180))
);
