"""The simulated district behind `pulse simulate` (and `pulse up --demo`): what every camera says at a moment,
and when citizens use the app. Pure and deterministic: a seed and a time give the same answer, so a test can
ask what trouble it should see and when.

Time is cut into cycles of `cycle_s` (an hour by default; a few minutes in tests). In each cycle:
- **power cut**: one commune (a different one each cycle) has every camera silent for the second sixth;
- **uplink loss**: another commune's gateway cannot reach the server for the tenth after two thirds of the
  cycle; its cameras keep recording and the gateway delivers everything late when the link returns (the spool
  replay of SPEC §4);
- **single cameras** die at random for a while (a few per cycle) and come back;
- a **flapping** camera says down and ok in turns (every `flap_s`) during the second half;
always: a **blurred** and a **covered** lens (degraded, with their quality flags) in two communes; and a
**planned maintenance** window every night 02:00–03:00 for one commune (created by the simulator).
Citizens use the app more in the morning and the evening, adoption differs per commune, some send feedback,
and new citizens join every day. Populations given to communes are labelled synthetic.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo


@dataclass(frozen=True)
class WorldConfig:
    cameras: int = 5000
    interval_s: int = 60
    cycle_s: float = 3600.0
    flap_s: float = 20.0
    deaths_per_cycle: int = 6
    citizens: int = 20_000  # citizens who have the app (more join each day)
    sessions_per_citizen_per_day: float = 1.2
    seed: int = 37


@dataclass(frozen=True)
class SimCamera:
    camera_id: str
    unit_code: str
    name: str
    index: int  # within its commune


def _h(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) from its arguments."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class World:
    def __init__(self, config: WorldConfig, units: list[tuple[str, str]]) -> None:
        self.config = config
        self.units = units  # (code, name) of the 2024 communes
        per_unit = max(1, config.cameras // len(units))
        self.cameras = [
            SimCamera(f"HH-{code}-{i:03d}", code, f"Camera {name} {i + 1:03d}", i)
            for code, name in units
            for i in range(per_unit)
        ]
        self.by_unit: dict[str, list[SimCamera]] = {}
        for cam in self.cameras:
            self.by_unit.setdefault(cam.unit_code, []).append(cam)
        codes = [code for code, _ in units]
        self.blurred = self.by_unit[codes[3 % len(codes)]][1].camera_id
        self.covered = self.by_unit[codes[11 % len(codes)]][2].camera_id
        self.flapping = self.by_unit[codes[2 % len(codes)]][0].camera_id
        self.maintenance_unit = codes[5 % len(codes)]
        # Adoption differs per commune (share of its citizens with the app), fixed by the seed.
        self.adoption = {code: 0.15 + 0.5 * _h(config.seed, "adoption", code) for code in codes}

    # --- cycles -------------------------------------------------------------------------------------------

    def cycle(self, t: datetime) -> tuple[int, float]:
        """(cycle number, seconds into it)."""
        x = t.timestamp() / self.config.cycle_s
        k = math.floor(x)
        return k, (x - k) * self.config.cycle_s

    def power_cut_unit(self, t: datetime) -> str | None:
        k, into = self.cycle(t)
        c = self.config.cycle_s
        if c / 6 <= into < c / 3:
            return self.units[k % len(self.units)][0]
        return None

    def uplink_down_unit(self, t: datetime) -> str | None:
        k, into = self.cycle(t)
        c = self.config.cycle_s
        if 2 * c / 3 <= into < 2 * c / 3 + c / 10:
            return self.units[(k + 7) % len(self.units)][0]
        return None

    def dead(self, t: datetime) -> set[str]:
        """Cameras that died on their own in this cycle and are not back yet."""
        k, into = self.cycle(t)
        out = set()
        for n in range(self.config.deaths_per_cycle):
            cam = self.cameras[int(_h(self.config.seed, "death", k, n) * len(self.cameras))]
            start = _h(self.config.seed, "death-start", k, n) * self.config.cycle_s * 0.8
            length = (0.05 + 0.15 * _h(self.config.seed, "death-length", k, n)) * self.config.cycle_s
            if start <= into < start + length:
                out.add(cam.camera_id)
        return out

    def heartbeat(self, cam: SimCamera, t: datetime) -> dict | None:
        """What a camera reports at t (SPEC §4 item without ts), or None when it is silent."""
        if cam.unit_code == self.power_cut_unit(t) or cam.camera_id in self.dead(t):
            return None
        if cam.camera_id == self.flapping:
            _, into = self.cycle(t)
            if into >= self.config.cycle_s / 2 and int(into // self.config.flap_s) % 2 == 0:
                return {"status": "down"}
        if cam.camera_id == self.blurred:
            return {"status": "degraded", "quality": {"blur": 12.0}}  # variance of Laplacian far under 100
        if cam.camera_id == self.covered:
            return {"status": "degraded", "quality": {"obstructed": True}}
        return {"status": "ok", "metrics": {"fps": 25.0, "bitrate_kbps": 2048}}

    def beat_offset(self, cam: SimCamera) -> float:
        """Where in each interval the camera beats: cameras spread evenly, not all at once."""
        return _h(self.config.seed, "offset", cam.camera_id) * self.config.interval_s

    # --- citizens -----------------------------------------------------------------------------------------

    def citizens_on(self, day: int) -> int:
        """Citizens with the app on a day (day 0 is the start, history before it is negative): about 0.3 % more
        each day."""
        return int(self.config.citizens * max(0.2, 1 + 0.003 * day))

    def home(self, citizen: int) -> str:
        """A citizen's commune: communes with higher adoption have more of them."""
        weights = [self.adoption[code] for code, _ in self.units]
        x = _h(self.config.seed, "home", citizen) * sum(weights)
        for (code, _), w in zip(self.units, weights, strict=True):
            x -= w
            if x < 0:
                return code
        return self.units[-1][0]

    def rhythm(self, t: datetime, tz: tzinfo) -> float:
        """Relative use at local time t (mean 1 over a day): peaks in the morning and the evening."""
        hour = t.astimezone(tz).hour + t.astimezone(tz).minute / 60
        morning = math.exp(-((hour - 7.5) ** 2) / 2)
        evening = math.exp(-((hour - 20) ** 2) / 3)
        return (0.15 + 1.6 * morning + 2.2 * evening) / 1.33

    def sessions_per_second(self, t: datetime, tz: tzinfo, day: int) -> float:
        per_day = self.citizens_on(day) * self.config.sessions_per_citizen_per_day
        return per_day / 86400 * self.rhythm(t, tz)

    def session(self, t: datetime, n: int, day: int) -> tuple[int, str, list[tuple[str, dict]]]:
        """Session n started at t: (citizen, commune, events as (name, properties))."""
        citizen = int(_h(self.config.seed, "who", t.timestamp(), n) * self.citizens_on(day))
        events: list[tuple[str, dict]] = [("app_open", {})]
        for i in range(2 + int(_h(self.config.seed, "len", t.timestamp(), n) * 8)):
            pick = _h(self.config.seed, "ev", t.timestamp(), n, i)
            if pick < 0.5:
                events.append(("screen_view", {"screen": ["home", "news", "cameras", "services"][int(pick * 8)]}))
            elif pick < 0.75:
                events.append(("news_read", {"article_id": f"tin-{int(pick * 1000)}"}))
            elif pick < 0.9:
                events.append(("camera_viewed", {"camera_id": self.cameras[int(pick * len(self.cameras))].camera_id}))
            else:
                events.append(("payment_completed", {"service": "le-phi", "amount_vnd": 20000}))
        if _h(self.config.seed, "feedback", t.timestamp(), n) < 0.04:
            events.append(("feedback_submitted", {"category": "road_damage"}))
        return citizen, self.home(citizen), events


def beat_times(offset: float, interval: int, a: datetime, b: datetime) -> list[datetime]:
    """The beat times k·interval + offset in (a, b]: consecutive spans (live ticks, backfilled days) tile."""
    first = int((a.timestamp() - offset) // interval) + 1
    last = int((b.timestamp() - offset) // interval)
    return [datetime.fromtimestamp(k * interval + offset, UTC) for k in range(first, last + 1)]


def citizen_ids(citizen: int) -> tuple[str, str]:
    """A simulated citizen's account id and app install id, the same live and in the backfilled history (so
    both give the same pseudonyms)."""
    return f"cd-{citizen:06d}", str(uuid.UUID(int=citizen + 1))


def day_number(t: datetime, start: datetime) -> int:
    return max(0, int((t - start) / timedelta(days=1)))
