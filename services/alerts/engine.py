"""The alerts engine's database side: one `tick` reads what is true now, applies `rules.decide`, queues the
notifications that are due in the outbox (`outbox.deliver_due` sends them). Only the leader runs it (service.py).

Everything a tick changes — incidents, merges, the outbox rows and the marks on the incidents they report — is
written in one transaction, so a crash between two ticks loses nothing and queues nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from prometheus_client import Counter, Gauge
from psycopg import sql

from services.alerts import messages, rules
from services.core import maintenance, uptime
from services.core.db import DbConn
from services.core.fleet import Fleet, from_micros, micros
from services.core.live_view import View, refresh
from services.core.maintenance import Window
from services.core.settings import Settings
from services.core.uptime import LIVE_STATES, State

log = logging.getLogger("pulse.alerts")

CAMERAS = Gauge("pulse_alerts_cameras", "Cameras by live state and unit", ["unit_code", "state"])
OPEN_INCIDENTS = Gauge("pulse_alerts_open_incidents", "Open incidents by kind", ["kind"])
OPENED = Counter("pulse_alerts_incidents_opened_total", "Incidents opened", ["kind"])
PIPELINE = Gauge("pulse_alerts_pipeline_stalled", "1 while ingest is stalled (camera alerts held)")

KINDS = ("camera_down", "camera_degraded", "commune_outage", "gateway_down", "pipeline_stalled")


@dataclass
class Engine:
    settings: Settings
    # Cameras not up at the previous tick, and their state (the others were up); `started` once a tick has run.
    last_state: dict[str, str] = field(default_factory=dict)
    started: bool = False
    # The fleet as arrays, brought up to date each tick at the cost of what changed (issue 28): three reads of all
    # 150,000 cameras a second were half of a province's database work.
    view: View | None = None

    @property
    def thresholds(self) -> rules.Rules:
        s = self.settings
        return rules.Rules(s.outage_ratio, s.outage_min_cameras, s.outage_window_s)

    # --- evaluation -------------------------------------------------------------------------------------

    def tick(self, conn: DbConn, now: datetime, *, pipeline_stalled: bool) -> rules.Decision:
        tz = self.settings.tz
        windows = [w for w in maintenance.load_windows(conn) if w.active(now, tz)]
        mapping = _mapping(conn)
        watch = {cid for cid, state in self.last_state.items() if state != "up"}
        watch |= {w.camera_id for w in windows if w.camera_id is not None}
        self.view = refresh(conn, self.settings.unit_set, self.view)
        fleet = self.view.fleet
        serving = fleet.retired > micros(now)
        sizes = _per_unit(fleet, serving)
        cameras = []
        for k, state in self._candidates(now, serving, watch):
            key = fleet.keys[fleet.key[k]]
            unit = (key[0], key[1])
            camera_id = str(fleet.ids[k])
            down_since = None
            if state == "down" and fleet.last[k] != uptime.NEVER:
                last = int(fleet.last[k])  # a down heartbeat: since then; else since its deadline
                if fleet.last_state[k] != LIVE_STATES.index("down"):
                    last += int(fleet.interval[k] + fleet.grace[k])
                down_since = from_micros(last)
            in_maintenance = any(w.covers(camera_id, [unit, *mapping.get(unit, [])]) for w in windows)
            cameras.append(rules.CameraNow(camera_id, unit, state, down_since, in_maintenance))
        gateways = self._gateways(conn, now, windows, mapping, _per_gateway(fleet, serving))
        incidents = _open_incidents(conn)
        decision = rules.decide(
            now,
            cameras,
            gateways,
            incidents,
            pipeline_stalled=pipeline_stalled,
            rules=self.thresholds,
            unit_sizes=sizes,
        )
        with conn.transaction():
            self._apply(conn, now, decision)
            if not pipeline_stalled:
                self._record_changes(conn, now, cameras)
            self._queue_notifications(conn, now, mapping)
        self._metrics(cameras, sizes, conn, pipeline_stalled)
        return decision

    def _candidates(self, now: datetime, serving: np.ndarray, watch: set[str]) -> list[tuple[int, State]]:
        """The cameras a tick must look at — those in service not up now, and the watch list (not up at the last
        tick, or under a camera's maintenance window) — with their live state. The rest, nearly all of a healthy
        fleet, are up, and only counted."""
        assert self.view is not None
        states = self.view.fleet.live(now, self.settings.gateway_silence_s)
        picked = states != LIVE_STATES.index("up")
        position = self.view.position
        picked[[position[c] for c in watch if c in position]] = True
        return [(int(k), LIVE_STATES[states[k]]) for k in np.flatnonzero(picked & serving)]

    def _gateways(
        self,
        conn: DbConn,
        now: datetime,
        windows: list[Window],
        mapping: dict[tuple[str, str], list],
        cameras: dict[int, int],
    ) -> list[rules.GatewayNow]:
        rows = conn.execute(
            """
            SELECT g.gateway_id, g.watermark,
                   array_agg(ARRAY[u.unit_set, u.unit_code] ORDER BY u.unit_code)
                       FILTER (WHERE u.unit_code IS NOT NULL) AS units
            FROM gateways g
            LEFT JOIN gateway_units u ON u.gateway_id = g.gateway_id
            WHERE g.revoked_at IS NULL
            GROUP BY g.gateway_id
            """
        ).fetchall()
        out = []
        for r in rows:
            silent = r["watermark"] is None or (now - r["watermark"]).total_seconds() > self.settings.gateway_silence_s
            units = tuple((u[0], u[1]) for u in (r["units"] or []))
            in_maintenance = bool(units) and all(
                any(w.camera_id is None and w.covers("", [u, *mapping.get(u, [])]) for w in windows) for u in units
            )
            serving = cameras.get(r["gateway_id"], 0)
            out.append(rules.GatewayNow(r["gateway_id"], silent, serving, units, in_maintenance))
        return out

    def _apply(self, conn: DbConn, now: datetime, d: rules.Decision) -> None:
        ids: dict[int, int] = {}
        for new in d.open:
            row = conn.execute(
                """
                INSERT INTO incidents (kind, unit_set, unit_code, camera_ids, gateway_id, opened_at)
                VALUES (%s, %s, %s, %s, %s, %s)
                ON CONFLICT DO NOTHING RETURNING incident_id
                """,
                (new.kind, *(new.unit or (None, None)), list(new.camera_ids), new.gateway_id, now),
            ).fetchone()
            if row is not None:
                ids[id(new)] = row["incident_id"]
                OPENED.labels(new.kind).inc()
                log.info("incident %s opened: %s %s", row["incident_id"], new.kind, ",".join(new.camera_ids[:5]))
        for incident_id, resolution in d.resolve.items():
            conn.execute(
                "UPDATE incidents SET status = 'resolved', resolved_at = %s, resolution = %s"
                " WHERE incident_id = %s AND status = 'open'",
                (now, resolution, incident_id),
            )
        for incident_id, outage in d.merge.items():
            conn.execute(
                "UPDATE incidents SET status = 'resolved', resolved_at = %s, resolution = 'merged', merged_into = %s"
                " WHERE incident_id = %s AND status = 'open'",
                (now, ids.get(id(outage)), incident_id),
            )
        for incident_id, cameras in d.extend.items():
            conn.execute("UPDATE incidents SET camera_ids = %s WHERE incident_id = %s", (list(cameras), incident_id))

    def _record_changes(self, conn: DbConn, now: datetime, cameras: Sequence[rules.CameraNow]) -> None:
        """State changes for flapping (a new leader starts from what it sees: no change is invented). Cameras
        not listed are up; the ones that were not up at the last tick are always listed (the watch list)."""
        changed = []
        listed = {c.camera_id: c.state for c in cameras}
        for camera_id in set(self.last_state) - set(listed):
            listed[camera_id] = "up"
        for camera_id, state in listed.items():
            before = self.last_state.get(camera_id, "up" if self.started else None)
            if before is not None and before != state and "unknown" not in (state, before):
                changed.append(camera_id)
        self.last_state = {cid: state for cid, state in listed.items() if state != "up"}
        self.started = True
        if changed:
            conn.execute(
                "INSERT INTO camera_changes (camera_id, at, state)"
                " SELECT unnest(%s::text[]), %s, 'changed' ON CONFLICT DO NOTHING",
                (changed, now),
            )
        conn.execute("DELETE FROM camera_changes WHERE at < %s", (now - timedelta(hours=1),))
        history: dict[str, list[datetime]] = defaultdict(list)
        for r in conn.execute(
            "SELECT camera_id, at FROM camera_changes WHERE at >= %s", (now - timedelta(minutes=30),)
        ):
            history[r["camera_id"]].append(r["at"])
        flapping = {r["camera_id"] for r in conn.execute("SELECT camera_id FROM camera_flapping")}
        for camera_id, times in history.items():
            if camera_id not in flapping and rules.is_flapping(times, now):
                conn.execute(
                    "INSERT INTO camera_flapping (camera_id, since) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (camera_id, now),
                )
        for camera_id in flapping:
            if rules.is_stable(history.get(camera_id, []), now):
                # Stable again: its past changes are settled and count no more toward flapping.
                conn.execute("DELETE FROM camera_flapping WHERE camera_id = %s", (camera_id,))
                conn.execute("DELETE FROM camera_changes WHERE camera_id = %s", (camera_id,))

    # --- notifications ---------------------------------------------------------------------------------

    def _queue_notifications(
        self, conn: DbConn, now: datetime, mapping: dict[tuple[str, str], list[tuple[str, str]]]
    ) -> None:
        s = self.settings
        held = {r["camera_id"] for r in conn.execute("SELECT camera_id FROM camera_flapping")}
        due: dict[str, list[dict]] = {"opened": [], "resolved": [], "reminder": []}
        for r in conn.execute(
            """
            SELECT * FROM incidents
            WHERE (status = 'open' AND notified_at IS NULL AND opened_at <= %(wait)s)
               OR (status = 'resolved' AND notified_at IS NOT NULL AND resolved_notified_at IS NULL)
               OR (status = 'open' AND notified_at IS NOT NULL AND coalesce(reminded_at, notified_at) <= %(repeat)s)
            ORDER BY incident_id
            """,
            {
                "wait": now - timedelta(seconds=s.alert_group_wait_s),
                "repeat": now - timedelta(seconds=s.alert_repeat_s),
            },
        ):
            if r["kind"] in rules.CAMERA_KINDS and r["camera_ids"] and r["camera_ids"][0] in held:
                continue  # a flapping camera: its messages wait until it is stable
            if r["status"] == "resolved":
                due["resolved"].append(r)
            elif r["notified_at"] is None:
                due["opened"].append(r)
            else:
                due["reminder"].append(r)
        channels = _channels(conn)
        names = _unit_names(conn)
        for event, rows in due.items():
            by_unit: dict[tuple[str, str] | None, list[dict]] = defaultdict(list)
            for r in rows:
                by_unit[(r["unit_set"], r["unit_code"]) if r["unit_code"] else None].append(r)
            for unit, group in by_unit.items():
                self._queue(conn, now, event, unit, group, channels, names, mapping)
                column = {"opened": "notified_at", "resolved": "resolved_notified_at", "reminder": "reminded_at"}[event]
                conn.execute(
                    sql.SQL("UPDATE incidents SET {} = %s WHERE incident_id = ANY(%s)").format(sql.Identifier(column)),
                    (now, [r["incident_id"] for r in group]),
                )
        for r in conn.execute("SELECT camera_id, since FROM camera_flapping WHERE notified_at IS NULL").fetchall():
            cam = conn.execute(
                "SELECT c.unit_set, c.unit_code, coalesce(i.incident_id, 0) AS incident_id FROM cameras c"
                " LEFT JOIN incidents i ON i.camera_ids[1] = c.camera_id"
                " AND i.kind IN ('camera_down', 'camera_degraded')"
                " WHERE c.camera_id = %s ORDER BY i.incident_id DESC NULLS LAST LIMIT 1",
                (r["camera_id"],),
            ).fetchone()
            if cam is None:
                continue
            pseudo = {
                "incident_id": cam["incident_id"],
                "kind": "camera_down",
                "unit_set": cam["unit_set"],
                "unit_code": cam["unit_code"],
                "camera_ids": [r["camera_id"]],
                "gateway_id": None,
                "opened_at": r["since"],
                "resolved_at": None,
                "flap_since": r["since"].isoformat(),
            }
            self._queue(conn, now, "flapping", (cam["unit_set"], cam["unit_code"]), [pseudo], channels, names, mapping)
            conn.execute("UPDATE camera_flapping SET notified_at = %s WHERE camera_id = %s", (now, r["camera_id"]))

    def _queue(
        self,
        conn: DbConn,
        now: datetime,
        event: str,
        unit: tuple[str, str] | None,
        incidents: list[dict],
        channels: list[dict],
        names: dict[tuple[str, str], str],
        mapping: dict[tuple[str, str], list[tuple[str, str]]],
    ) -> None:
        unit_name = names.get(unit) if unit else None
        camera_names = _camera_names(conn, [cid for r in incidents for cid in r["camera_ids"]])
        gateway_names = _gateway_names(conn, [r["gateway_id"] for r in incidents if r["gateway_id"]])
        infos = [
            messages.IncidentInfo(
                r["incident_id"],
                r["kind"],
                unit_name,
                tuple((cid, camera_names.get(cid, "")) for cid in r["camera_ids"]),
                gateway_names.get(r["gateway_id"]) if r["gateway_id"] else None,
                r["opened_at"],
                r["resolved_at"],
            )
            for r in incidents
        ]
        ids = sorted(r["incident_id"] for r in incidents)
        reach = {unit, *mapping.get(unit, [])} if unit else set()
        for ch in channels:
            if ch["unit_codes"] and not any((ch["unit_set"], code) in reach for code in ch["unit_codes"]):
                continue
            subject, body = messages.compose(event, unit_name, infos, lang=ch["lang"], tz=self.settings.tz)
            # A reminder is a new message each time; the others are one per incident set and event.
            extra = (
                now.isoformat() if event == "reminder" else "|".join(str(r.get("flap_since", "")) for r in incidents)
            )
            key = hashlib.sha256(f"{event}|{ch['channel_id']}|{ids}|{extra}".encode()).hexdigest()[:40]
            payload = {
                "idempotency_key": key,
                "incident_id": ids[0],
                "incident_ids": ids,
                "kind": incidents[0]["kind"],
                "event": event,
                "unit_code": unit[1] if unit else None,
                "unit_name": unit_name,
                "camera_ids": [cid for r in incidents for cid in r["camera_ids"]],
                "text": body,
            }
            conn.execute(
                """
                INSERT INTO notifications (idempotency_key, channel_id, event, incident_ids, unit_code, subject, body,
                                           payload, next_attempt_at, created_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (idempotency_key) DO NOTHING
                """,
                (key, ch["channel_id"], event, ids, unit[1] if unit else None, subject, body, _json(payload), now, now),
            )

    def _metrics(
        self, cameras: Sequence[rules.CameraNow], sizes: dict[tuple[str, str], int], conn: DbConn, stalled: bool
    ) -> None:
        PIPELINE.set(1 if stalled else 0)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for (_, code), n in sizes.items():
            counts[(code, "up")] += n  # cameras not listed are up
        for c in cameras:
            counts[(c.unit[1], c.state)] += 1
            counts[(c.unit[1], "up")] -= 1
        CAMERAS.clear()
        for (code, state), n in counts.items():
            CAMERAS.labels(code, state).set(n)
        open_counts = {
            r["kind"]: r["n"]
            for r in conn.execute("SELECT kind, count(*) AS n FROM incidents WHERE status = 'open' GROUP BY kind")
        }
        for kind in KINDS:
            OPEN_INCIDENTS.labels(kind).set(open_counts.get(kind, 0))


def _per_unit(fleet: Fleet, serving: np.ndarray) -> dict[tuple[str, str], int]:
    """Cameras in service per unit they are registered in."""
    sizes: dict[tuple[str, str], int] = defaultdict(int)
    for k, n in enumerate(np.bincount(fleet.key[serving], minlength=len(fleet.keys)).tolist()):
        if n:
            sizes[(fleet.keys[k][0], fleet.keys[k][1])] += n
    return dict(sizes)


def _per_gateway(fleet: Fleet, serving: np.ndarray) -> dict[int, int]:
    """Cameras in service per gateway they report through."""
    ids, counts = np.unique(fleet.gateway[serving & (fleet.gateway >= 0)], return_counts=True)
    return dict(zip(ids.tolist(), counts.tolist(), strict=True))


def _open_incidents(conn: DbConn) -> list[rules.Open]:
    return [
        rules.Open(
            r["incident_id"],
            r["kind"],
            tuple(r["camera_ids"]),
            (r["unit_set"], r["unit_code"]) if r["unit_code"] else None,
            r["gateway_id"],
            r["notified_at"] is not None,
        )
        for r in conn.execute("SELECT * FROM incidents WHERE status = 'open'")
    ]


def _mapping(conn: DbConn) -> dict[tuple[str, str], list[tuple[str, str]]]:
    out: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for r in conn.execute("SELECT from_set, from_code, to_set, to_code FROM unit_mapping"):
        out[(r["from_set"], r["from_code"])].append((r["to_set"], r["to_code"]))
    return out


def _channels(conn: DbConn) -> list[dict]:
    return conn.execute("SELECT * FROM channels WHERE disabled_at IS NULL ORDER BY channel_id").fetchall()


def _unit_names(conn: DbConn) -> dict[tuple[str, str], str]:
    return {(r["unit_set"], r["code"]): r["name"] for r in conn.execute("SELECT unit_set, code, name FROM units")}


def _camera_names(conn: DbConn, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = conn.execute("SELECT camera_id, name FROM cameras WHERE camera_id = ANY(%s)", (ids,))
    return {r["camera_id"]: r["name"] for r in rows}


def _gateway_names(conn: DbConn, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute("SELECT gateway_id, name FROM gateways WHERE gateway_id = ANY(%s)", (ids,))
    return {r["gateway_id"]: r["name"] for r in rows}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
