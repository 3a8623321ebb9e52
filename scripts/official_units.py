"""Convert a province's official list of administrative units (Vietnam's National Statistics Office, the 2025
reform) into the unit-set files `pulse migrate` ships and `pulse units import` reads (README, "Unit files").

The official list comes as two files: the commune-level units in force from 1 July 2025 (`code,name,type`) and the
units as they stood in the first half of 2025 with their district and their successor(s) in the 2025 list
(`code,name,type,district_code,district_name,successor_codes,partly_merged`). Nothing here is specific to one
province: its code and name are arguments.

    python scripts/official_units.py --province-code 38 --province-name "Thanh Hóa" \\
        --units-2025 ../shared/reference/thanhhoa-units-2025.csv \\
        --units-legacy ../shared/reference/thanhhoa-units-legacy.csv --out services/core/reference/thanhhoa
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

COLUMNS = [
    "unit_set", "code", "name", "type", "successor_code", "successor_set", "partly_merged",
    "district_code", "district_name", "province_code", "province_name", "valid_from", "valid_to",
]  # fmt: skip
NEW_SET, LEGACY_SET = "2025", "2025-01"  # the reform's sets: from 1 July 2025, and the first half of 2025
REFORM_DAY, LEGACY_FROM = "2025-07-01", "2025-01-01"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--province-code", required=True)
    parser.add_argument("--province-name", required=True)
    parser.add_argument("--units-2025", type=Path, required=True)
    parser.add_argument("--units-legacy", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="prefix of the two files written")
    args = parser.parse_args()
    province = {"province_code": args.province_code, "province_name": args.province_name}
    new_rows = [
        {"unit_set": NEW_SET, **{k: r[k] for k in ("code", "name", "type")}, **province, "valid_from": REFORM_DAY}
        for r in _read(args.units_2025)
    ]
    legacy_rows = [
        {
            "unit_set": LEGACY_SET,
            **{k: r[k] for k in ("code", "name", "type", "district_code", "district_name")},
            "successor_code": r["successor_codes"],
            "successor_set": NEW_SET if r["successor_codes"] else "",
            "partly_merged": r["partly_merged"],
            **province,
            "valid_from": LEGACY_FROM,
            "valid_to": REFORM_DAY,
        }
        for r in _read(args.units_legacy)
    ]
    for suffix, rows in (("-2025.csv", new_rows), ("-2025-01.csv", legacy_rows)):
        path = args.out.with_name(args.out.name + suffix)
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows({c: row.get(c, "") for c in COLUMNS} for row in rows)
        print(f"{path}: {len(rows)} units")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


if __name__ == "__main__":
    main()
