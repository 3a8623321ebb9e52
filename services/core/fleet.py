"""Every camera of a view at once, as numpy arrays: what the open tails, the service periods and the live states
need (SPEC §5), fetched in one query and handed to the array forms of the rules in `services.core.uptime`
(`tail_micros`, `live_states`). The province's views read 150,000 cameras this way (docs/benchmarks.md §13)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from psycopg.rows import tuple_row
from psycopg.types.numeric import Int8BinaryLoader

from services.core import uptime, uptime_days
from services.core.db import DbConn
from services.core.uptime import State

# What the open tails, the service periods and the live states need, for every camera (or the listed ones), one
# row per camera key with arrays: 150,000 cameras arrive as a few hundred rows, and no per-camera unit lookup (the
# key's unit comes from `unit_key_views`, a few hundred rows too). Times travel as they are stored: in binary, a
# timestamptz is the number of microseconds since 2000-01-01 UTC, which `fleet` reads as an integer — a third
# faster than converting each in SQL; ±infinity (none) arrive as the extreme integers.
_FLEET = """
SELECT c.unit_set, c.unit_code, coalesce(c.successor_unit_code, ''),
       array_agg(coalesce(c.installed_at, '-infinity')),
       array_agg(coalesce(c.retired_at, 'infinity')),
       array_agg(coalesce(cs.last_ts, '-infinity')),
       array_agg(CASE cs.last_state WHEN 'degraded' THEN 1 WHEN 'down' THEN 2 ELSE 0 END::bigint),
       array_agg(c.interval_s::bigint * 1000000),
       array_agg(coalesce(c.grace_s, c.interval_s)::bigint * 1000000),
       array_agg(coalesce(g.watermark, '-infinity')),
       array_agg(coalesce(c.gateway_id, -1)),
       CASE WHEN %(ids_too)s THEN array_agg(c.camera_id) ELSE '{}' END
FROM cameras c
LEFT JOIN camera_status cs ON cs.camera_id = c.camera_id
LEFT JOIN gateways g ON g.gateway_id = c.gateway_id
WHERE (%(ids)s::text[] IS NULL OR c.camera_id = ANY(%(ids)s))
GROUP BY 1, 2, 3
"""


@dataclass(frozen=True)
class Fleet:
    """Cameras as arrays, for the rules of `uptime` that take many at once: `unit` indexes `codes` (their unit in
    the view, None: not attributable), `key` indexes `keys` (their own unit_set, unit_code, successor); times in
    epoch microseconds; `gateway` the gateway each camera reports through (-1: none yet)."""

    codes: list[str | None]
    keys: list[uptime_days.Key]
    ids: np.ndarray
    unit: np.ndarray
    key: np.ndarray
    installed: np.ndarray
    retired: np.ndarray
    last: np.ndarray
    last_state: np.ndarray
    interval: np.ndarray
    grace: np.ndarray
    watermark: np.ndarray
    gateway: np.ndarray

    def subset(self, index: np.ndarray) -> Fleet:
        """The cameras at `index` only (`codes` and `keys`, which they index, stay whole)."""
        return dataclasses.replace(
            self,
            ids=self.ids[index] if len(self.ids) else self.ids,
            **{name: getattr(self, name)[index] for name in _PER_CAMERA},
        )

    def live(self, now: datetime, gateway_silence_s: float) -> np.ndarray:
        """Each camera's live state, an index into `uptime.LIVE_STATES`."""
        return uptime.live_states(
            self.last,
            self.last_state,
            self.watermark,
            self.interval,
            self.grace,
            now=micros(now),
            gateway_silence=gateway_silence_s * 1e6,
        )

    def live_counts(self, now: datetime, gateway_silence_s: float) -> dict[str | None, Counter[State]]:
        """Cameras per unit by live state, those retired by `now` left out."""
        states = self.live(now, gateway_silence_s)
        serving = self.retired > micros(now)
        table = np.zeros((len(self.codes), len(uptime.LIVE_STATES)), dtype=np.int64)
        np.add.at(table, (self.unit[serving], states[serving]), 1)
        return {
            code: Counter({s: int(n) for s, n in zip(uptime.LIVE_STATES, row, strict=True) if n})
            for code, row in zip(self.codes, table, strict=True)
        }


_PER_CAMERA = ("unit", "key", "installed", "retired", "last", "last_state", "interval", "grace", "watermark", "gateway")


def micros(at: datetime) -> int:
    """Microseconds since PostgreSQL's epoch, as `fleet` reads times."""
    return (at - _EPOCH) // timedelta(microseconds=1)


def from_micros(at: int) -> datetime:
    """The time `micros` gave."""
    return _EPOCH + timedelta(microseconds=at)


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_NONE = np.iinfo(np.int64).min  # -infinity


def fleet(conn: DbConn, *, view_set: str, camera_ids: list[str] | None = None, with_ids: bool = False) -> Fleet:
    """`with_ids`: fill `ids` too (they cost a tenth more to fetch; only lists of cameras need them)."""
    unit_of = uptime_days.key_units(conn, view_set)
    with conn.cursor(row_factory=tuple_row, binary=True) as cur:
        cur.adapters.register_loader("timestamptz", Int8BinaryLoader)  # µs since 2000-01-01, see _FLEET
        rows = cur.execute(_FLEET, {"ids": camera_ids, "ids_too": with_ids}, prepare=False).fetchall()
    index: dict[str | None, int] = {}
    units = [np.full(len(r[3]), index.setdefault(unit_of.get(r[:3]), len(index)), dtype=np.int64) for r in rows]
    keys = [np.full(len(r[3]), k, dtype=np.int64) for k, r in enumerate(rows)]

    def joined(arrays: list[np.ndarray], dtype: type = np.int64) -> np.ndarray:
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype)

    columns = [joined([np.asarray(r[k], dtype=np.int64) for r in rows]) for k in range(3, 11)]
    for k in (2, 6):  # no heartbeat, no watermark: the rules' NEVER (installed/retired keep ∓infinity)
        columns[k][columns[k] == _NONE] = uptime.NEVER
    ids = joined([np.asarray(r[11], dtype=object) for r in rows], object)
    return Fleet(list(index), [r[:3] for r in rows], ids, joined(units), joined(keys), *columns)
