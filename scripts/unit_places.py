"""Extract the centroids of a unit set's communes from the MIT-licensed `vietnamadminunits` package into the
places file `pulse migrate` ships (services/core/reference/places/, format in services/core/unit_places.py).

The package (PyPI `vietnamadminunits`, an SQLite file `vietnamadminunits/data/dataset.db`, table `admin_units`:
the units in force from 1 July 2025 with `wardCode`, `wardLat`, `wardLon`) is a tool of this script, never a
dependency of the product: install it in a throw-away virtual environment. Units are matched by code; a unit
whose code is absent is matched by name (with its type prefix, e.g. "Xã Hoằng Hóa"), and every mismatch is
printed. Not run in CI: the output file is committed.

    python3 -m venv /tmp/vau && /tmp/vau/bin/pip install vietnamadminunits==1.0.4
    python scripts/unit_places.py --units services/core/reference/thanhhoa-2025.csv --unit-set 2025 \\
        --dataset /tmp/vau/lib/python3.11/site-packages/vietnamadminunits/data/dataset.db \\
        --out services/core/reference/places/thanhhoa-2025-places.csv
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import sys
from pathlib import Path

COLUMNS = ["unit_set", "code", "lat", "lon"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=Path, required=True, help="a unit file (unit_set,code,name,type,…)")
    parser.add_argument("--unit-set", required=True)
    parser.add_argument("--dataset", type=Path, required=True, help="vietnamadminunits' dataset.db")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with args.units.open(encoding="utf-8-sig", newline="") as f:
        units = [r for r in csv.DictReader(f) if r["unit_set"] == args.unit_set]
    db = sqlite3.connect(f"file:{args.dataset}?mode=ro", uri=True)
    rows = db.execute("SELECT wardCode, ward, wardLat, wardLon FROM admin_units").fetchall()
    by_code = {code: (lat, lon) for code, _, lat, lon in rows}
    by_name: dict[str, list[tuple[float, float]]] = {}
    for _, name, lat, lon in rows:
        by_name.setdefault(name.casefold(), []).append((lat, lon))
    out, problems = [], []
    for u in units:
        place = by_code.get(u["code"])
        if place is None:
            found = by_name.get(f"{u['type']} {u['name']}".casefold(), [])
            if len(found) == 1:
                place = found[0]
                problems.append(f"{u['code']} {u['name']}: code not in the dataset, matched by name")
            else:
                problems.append(f"{u['code']} {u['name']}: not found ({len(found)} names match)")
                continue
        if place[0] is None or place[1] is None:
            problems.append(f"{u['code']} {u['name']}: no coordinates in the dataset")
            continue
        out.append({"unit_set": args.unit_set, "code": u["code"], "lat": repr(place[0]), "lon": repr(place[1])})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(out)
    print(f"{len(out)} of {len(units)} units written to {args.out}", file=sys.stderr)
    for p in problems:
        print(p, file=sys.stderr)


if __name__ == "__main__":
    main()
