"""The monthly briefing's figures (SPEC §9), as one value every format renders: pure, no I/O.

`gather.py` reads the inputs from the database; the renderers (`csv_file.py`, `xlsx_file.py`, `docx_file.py`,
`pdf_file.py`) only lay them out, so the four formats always carry the same numbers, and a kept report (its
figures as JSON) can be re-issued exactly as it was.

Decisions (recorded in docs/architecture.md):
- Availability is SPEC §5's over the month in `PULSE_TIMEZONE` (up to the moment the data was read for the running
  month); the change is in percentage points against the previous month.
- Incidents: those opened in the month, merged ones and data-pipeline incidents left out (they are about the
  system, not the cameras). Mean time to restore: over the ones among them that ended with the cameras recovered.
- Top and bottom five: units ranked by availability (units without a figure left out), ties by name; ten in a
  report over several districts (the province's 166 units), with a subtotal per district (`districts`): seconds
  summed over the district's cameras, MAU the district's distinct subjects — never sums or means of unit figures.
- A unit's own briefing (`unit_code` set, for its committee): its figures as the summary, its cameras' table, no
  ranking; the same rules.
- "Tồn tại, hạn chế": units under the availability target, and units whose adoption is under their target (only
  where a target is set and the population is entered: adoption is never guessed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

TOP = 5
TOP_PROVINCE = 10  # a report over several districts


class MonthOverMonth:
    """The changes against the previous month, the same for a unit's row and the district's summary."""

    availability: float | None
    availability_prev: float | None
    mau: int
    mau_prev: int

    @property
    def availability_change(self) -> float | None:
        """Percentage points (as a fraction: 0.012 = +1.2 points)."""
        if self.availability is None or self.availability_prev is None:
            return None
        return self.availability - self.availability_prev

    @property
    def mau_change(self) -> float | None:
        """Relative change of MAU against the previous month; None when there was none before."""
        return (self.mau - self.mau_prev) / self.mau_prev if self.mau_prev else None


@dataclass(frozen=True)
class UnitRow(MonthOverMonth):
    code: str
    name: str
    cameras: int
    availability: float | None
    availability_prev: float | None
    incidents: int
    mau: int
    mau_prev: int
    population: int | None
    adoption: float | None
    adoption_target: float | None
    new: int
    feedback: int
    district_code: str | None = None  # its (former) district, in a report over several
    district_name: str | None = None


@dataclass(frozen=True)
class DistrictRow(MonthOverMonth):
    """A district's subtotal: cameras, incidents and feedback add up; availability from its summed seconds; MAU and
    new subjects distinct across its units (`engagement.group_figures`)."""

    code: str
    name: str
    units: int
    cameras: int
    availability: float | None
    availability_prev: float | None
    incidents: int
    mau: int
    mau_prev: int
    population: int | None
    adoption: float | None
    new: int
    feedback: int


@dataclass(frozen=True)
class CameraLine:
    """One camera of a unit's own briefing."""

    camera_id: str
    name: str
    availability: float | None
    down_s: float
    incidents: int


@dataclass(frozen=True)
class Summary(MonthOverMonth):
    cameras: int
    availability: float | None
    availability_prev: float | None
    incidents: int
    mttr_s: float | None
    mau: int
    mau_prev: int
    population: int | None
    adoption: float | None
    new: int
    feedback: int


@dataclass(frozen=True)
class Shortfall:
    code: str
    name: str
    kind: Literal["availability", "adoption"]
    value: float
    target: float


@dataclass(frozen=True)
class WindowLine:
    """A maintenance window that took time out of the month's figures (maintenance leaves the denominator, SPEC
    §5), for the annex (issue 31): what it covered, who set it and when, and why when it was set afterwards."""

    window_id: int
    scope: Literal["camera", "unit", "all"]
    target: str  # the camera (id and name) or the unit's name; "" for everything
    starts_at: datetime | None  # one-off
    ends_at: datetime | None
    weekdays: list[int]  # weekly, local times "HH:MM"
    local_start: str | None
    local_end: str | None
    hours: float  # of the month's time (wall clock) it covered
    created_by: str
    created_at: datetime
    set_afterwards: bool  # set after the first moment it covers in the month: it changed figures already seen
    reason: str


@dataclass(frozen=True)
class MonthlyReport:
    month: date
    unit_set: str
    district_name: str
    as_of: datetime
    timezone: str
    availability_target: float
    summary: Summary
    units: list[UnitRow]
    mau_history: list[tuple[date, int]] = field(default_factory=list)  # the district's MAU, 12 months to `month`
    districts: list[DistrictRow] = field(default_factory=list)  # subtotals, when the units span several districts
    unit_code: str | None = None  # a unit's own briefing
    cameras: list[CameraLine] = field(default_factory=list)  # its cameras
    windows: list[WindowLine] = field(default_factory=list)  # the annex: maintenance that shaped the figures
    audit_head: str = ""  # the audit trail's last hash when the figures were read (`pulse audit verify`)

    @property
    def top_n(self) -> int:
        return TOP_PROVINCE if len(self.districts) > 1 else TOP

    @property
    def ranked(self) -> list[UnitRow]:
        known = [u for u in self.units if u.availability is not None]
        return sorted(known, key=lambda u: (-(u.availability or 0.0), u.name))

    @property
    def top(self) -> list[UnitRow]:
        return self.ranked[: self.top_n]

    @property
    def bottom(self) -> list[UnitRow]:
        return list(reversed(self.ranked[-self.top_n :])) if self.ranked else []

    def lines(self) -> list[UnitRow | DistrictRow]:
        """The per-unit table in order: each district's units followed by its subtotal, then any unit without a
        district; only the units when there are no subtotals."""
        out: list[UnitRow | DistrictRow] = []
        for d in self.districts:
            out += [u for u in self.units if u.district_code == d.code]
            out.append(d)
        known = {d.code for d in self.districts}
        return out + [u for u in self.units if u.district_code not in known]

    @property
    def shortfalls(self) -> list[Shortfall]:
        found: list[Shortfall] = []
        for u in self.units:
            if u.availability is not None and u.availability < self.availability_target:
                found.append(Shortfall(u.code, u.name, "availability", u.availability, self.availability_target))
        for u in self.units:
            if u.adoption is not None and u.adoption_target is not None and u.adoption < u.adoption_target:
                found.append(Shortfall(u.code, u.name, "adoption", u.adoption, u.adoption_target))
        return found

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["month"] = self.month.isoformat()
        data["as_of"] = self.as_of.isoformat()
        data["mau_history"] = [[m.isoformat(), n] for m, n in self.mau_history]
        for w in data["windows"]:
            for key in ("starts_at", "ends_at", "created_at"):
                w[key] = w[key].isoformat() if w[key] else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MonthlyReport:
        return cls(
            month=date.fromisoformat(data["month"]),
            unit_set=data["unit_set"],
            district_name=data["district_name"],
            as_of=datetime.fromisoformat(data["as_of"]),
            timezone=data["timezone"],
            availability_target=data["availability_target"],
            summary=Summary(**data["summary"]),
            units=[UnitRow(**u) for u in data["units"]],
            mau_history=[(date.fromisoformat(m), n) for m, n in data["mau_history"]],
            districts=[DistrictRow(**d) for d in data.get("districts", [])],
            unit_code=data.get("unit_code"),
            cameras=[CameraLine(**c) for c in data.get("cameras", [])],
            windows=[_window_line(w) for w in data.get("windows", [])],
            audit_head=data.get("audit_head", ""),
        )


def _window_line(data: dict[str, Any]) -> WindowLine:
    times = {k: datetime.fromisoformat(data[k]) if data[k] else None for k in ("starts_at", "ends_at", "created_at")}
    return WindowLine(**{**data, **times})
