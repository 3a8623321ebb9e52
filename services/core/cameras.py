"""The camera registry: CSV import (all or nothing, errors with line numbers) and reads. A stream URL is a
secret (it may hold credentials): it is stored sealed (services/core/sealing.py) and unsealed only by the prober."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from services.core import sealing
from services.core.csv_import import ImportProblems, read_rows
from services.core.db import DbConn

COLUMNS = ("camera_id", "unit_code", "name", "interval_s", "stream_url", "lat", "lon", "successor_unit_code")
_CAMERA_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_INTERVAL_S = 86_400


class CameraFileError(ImportProblems):
    """Every problem of a cameras file, one per line, with line numbers (secrets never echoed)."""


@dataclass(frozen=True)
class CameraRow:
    camera_id: str
    unit_code: str
    name: str
    interval_s: int
    stream_url: str | None
    lat: float | None
    lon: float | None
    # the camera's unit in the next set, where its unit was split and the mapping cannot say (the operator's word)
    successor_unit_code: str | None = None


def _number(value: str, low: float, high: float) -> float | None:
    if value == "":
        return None
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"must be between {low:g} and {high:g}")
    return number


def parse_cameras_csv(
    text: str, *, known_units: set[str], successors: dict[str, set[str]] | None = None
) -> list[CameraRow]:
    """Validate a whole file; raise CameraFileError listing every bad line (secrets never echoed).

    `successors`: each unit's official successors in the next set; a `successor_unit_code` must be one of its unit's.
    """
    successors = successors or {}
    try:
        columns, reader = read_rows(text, required=("camera_id", "unit_code"))
    except ImportProblems as exc:
        raise CameraFileError(exc.problems) from None
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise CameraFileError([f"line 1: unknown column(s): {', '.join(unknown)} (expected {', '.join(COLUMNS)})"])
    problems: list[str] = []
    rows: list[CameraRow] = []
    seen: dict[str, int] = {}
    for line, raw in reader:
        camera_id = raw.get("camera_id", "")
        if not _CAMERA_ID.match(camera_id):
            problems.append(f"line {line}: camera_id {camera_id!r} is not [A-Za-z0-9._:-]{{1,64}}")
        if camera_id in seen:
            problems.append(f"line {line}: camera_id {camera_id} repeats line {seen[camera_id]}")
        seen[camera_id] = line
        if raw.get("unit_code", "") not in known_units:
            problems.append(f"line {line}: unit_code {raw.get('unit_code', '')!r} is not a unit of the set in force")
        try:
            interval = int(raw.get("interval_s") or 60)
            if not 1 <= interval <= MAX_INTERVAL_S:
                raise ValueError
        except ValueError:
            problems.append(f"line {line}: interval_s must be a whole number of seconds from 1 to {MAX_INTERVAL_S}")
            interval = 60
        coords: list[float | None] = []
        for field, limit in (("lat", 90.0), ("lon", 180.0)):
            try:
                coords.append(_number(raw.get(field, ""), -limit, limit))
            except ValueError as exc:
                problems.append(f"line {line}: {field} {exc}")
                coords.append(None)
        stream_url = raw.get("stream_url") or None
        if stream_url and not re.match(r"^(rtsp|rtsps|http|https|file)://", stream_url):
            problems.append(f"line {line}: stream_url must start with rtsp://, http(s):// or file:// (value not shown)")
        successor = raw.get("successor_unit_code") or None
        unit = raw.get("unit_code", "")
        if successor is not None and successor not in successors.get(unit, set()):
            allowed = ", ".join(sorted(successors.get(unit, set()))) or "none"
            problems.append(
                f"line {line}: successor_unit_code {successor!r} is not a successor of unit {unit} (its successors: "
                f"{allowed})"
            )
        lat, lon = coords
        rows.append(CameraRow(camera_id, unit, raw.get("name", ""), interval, stream_url, lat, lon, successor))
    if not rows and not problems:
        problems.append("the file holds no cameras")
    if problems:
        raise CameraFileError(problems)
    return rows


def import_cameras(conn: DbConn, rows: list[CameraRow], *, unit_set: str, keys: sealing.Keyring | None = None) -> int:
    """Upsert every row in one transaction (idempotent); auto-registered cameras become registered. Returns
    how many rows changed. A changed interval queues the camera's retained heartbeats for a rollup, so its
    stored intervals follow the new I (and G) rather than mixing the two. Stream URLs are stored sealed under
    `keys` (PULSE_DEVICE_KEY's), which a file with stream URLs needs; an unchanged one (same digest) is kept as it
    was stored."""
    if keys is None and any(r.stream_url for r in rows):
        raise CameraFileError([f"stream_url: {sealing.KEY_HELP}"])
    ids = [r.camera_id for r in rows]
    with conn.transaction():
        before = {
            r["camera_id"]: r["interval_s"]
            for r in conn.execute("SELECT camera_id, interval_s FROM cameras WHERE camera_id = ANY(%s)", (ids,))
        }
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO cameras AS c (camera_id, unit_set, unit_code, name, interval_s, stream_url_enc,"
                " stream_url_digest, lat, lon, successor_unit_code, registered)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true)"
                " ON CONFLICT (camera_id) DO UPDATE SET unit_set = EXCLUDED.unit_set, unit_code = EXCLUDED.unit_code,"
                " name = EXCLUDED.name, interval_s = EXCLUDED.interval_s,"
                " stream_url_enc = CASE WHEN c.stream_url_digest IS NOT DISTINCT FROM EXCLUDED.stream_url_digest"
                " THEN c.stream_url_enc ELSE EXCLUDED.stream_url_enc END,"
                " stream_url_digest = EXCLUDED.stream_url_digest,"
                " lat = EXCLUDED.lat, lon = EXCLUDED.lon, successor_unit_code = EXCLUDED.successor_unit_code,"
                " registered = true, updated_at = now()"
                " WHERE (c.unit_set, c.unit_code, c.name, c.interval_s, c.stream_url_digest, c.lat, c.lon,"
                " c.successor_unit_code, c.registered)"
                " IS DISTINCT FROM (EXCLUDED.unit_set, EXCLUDED.unit_code, EXCLUDED.name, EXCLUDED.interval_s,"
                " EXCLUDED.stream_url_digest, EXCLUDED.lat, EXCLUDED.lon, EXCLUDED.successor_unit_code, true)",
                [
                    (
                        r.camera_id,
                        unit_set,
                        r.unit_code,
                        r.name,
                        r.interval_s,
                        keys.seal(r.stream_url) if keys and r.stream_url else None,
                        keys.digest(r.stream_url) if keys and r.stream_url else None,
                        r.lat,
                        r.lon,
                        r.successor_unit_code,
                    )
                    # in id order: a camera whose unit changes takes the rollup's per-camera lock (migration
                    # 0014), and the rollup takes its locks in id order too
                    for r in sorted(rows, key=lambda r: r.camera_id)
                ],
            )
        changed = conn.execute(
            "SELECT count(*) AS n FROM cameras WHERE camera_id = ANY(%s) AND updated_at = now()", (ids,)
        ).fetchone()
        new_interval = [r.camera_id for r in rows if r.camera_id in before and before[r.camera_id] != r.interval_s]
        if new_interval:
            conn.execute(
                "INSERT INTO camera_dirty (camera_id, from_ts, to_ts)"
                " SELECT camera_id, first_ts, last_ts FROM camera_status WHERE camera_id = ANY(%s)"
                " ON CONFLICT (camera_id) DO UPDATE SET from_ts = least(camera_dirty.from_ts, EXCLUDED.from_ts),"
                " to_ts = greatest(camera_dirty.to_ts, EXCLUDED.to_ts)",
                (new_interval,),
            )
    return int(changed["n"]) if changed else 0
