"""A batch of new app events folded into the few rows the activity tables need (pure: no SQL, no Kafka).

The database then places each folded row in every scope its unit belongs to (the unit, the unit it maps to in a
coarser set, the district) and upserts it; what it upserts is a sum or a bitwise OR of these rows, so folding
first changes no figure (SPEC §8) and spares PostgreSQL a row per event:
- `Day`: one per unit, local day and subject — events, foreground events (activity), feedback submitted;
- `NameSet`: one per unit, month, subject and word of the event-name ids — which event names it sent, as bits
  (feature use counts a subject once per name however many such events it sent);
- `NameCount`: one per unit, month and event name — how many such events (feature use's event totals).
An event without a unit is filed under `NO_UNIT`, which is no scope's unit: it counts for the district only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import NamedTuple

from services.ingest.app_events import EventRow

NO_UNIT = ""  # a unit code is at least one character (SPEC §3)
FEEDBACK = "feedback_submitted"
WORD_BITS = 64  # event-name ids per `NameSet` word: a bigint's bits


class Day(NamedTuple):
    unit_set: str
    unit_code: str
    day: date
    subject: str
    events: int
    foreground: int
    feedback: int


class NameSet(NamedTuple):
    unit_set: str
    unit_code: str
    month: date
    subject: str
    word: int
    names: int  # bit i: the event name with id word × 64 + i, as a signed 64-bit integer


class NameCount(NamedTuple):
    unit_set: str
    unit_code: str
    month: date
    name_id: int
    events: int


class Activity(NamedTuple):
    days: list[Day]
    name_sets: list[NameSet]
    name_counts: list[NameCount]


def name_bit(name_id: int) -> tuple[int, int]:
    """(word, bit mask as a signed 64-bit integer) of an event-name id."""
    word, bit = divmod(name_id, WORD_BITS)
    mask = 1 << bit
    return word, mask - (1 << WORD_BITS) if bit == WORD_BITS - 1 else mask


def fold(rows: Iterable[EventRow], name_ids: Mapping[str, int]) -> Activity:
    """The activity rows of `rows` (new events only: duplicates must be dropped before). `name_ids` gives every
    event name in `rows` its id."""
    days: dict[tuple[str, str, date, str], list[int]] = {}
    sets: dict[tuple[str, str, date, str, int], int] = {}
    counts: dict[tuple[str, str, date, int], int] = {}
    bits = {name: name_bit(i) for name, i in name_ids.items()}
    for row in rows:
        unit_set, unit_code = (row.unit_set or NO_UNIT, row.unit_code) if row.unit_code else (NO_UNIT, NO_UNIT)
        key = (unit_set, unit_code, row.day, row.subject)
        day = days.get(key)
        if day is None:
            day = days[key] = [0, 0, 0]
        day[0] += 1
        if not row.background:
            day[1] += 1
        if row.event == FEEDBACK:
            day[2] += 1
        month = row.day.replace(day=1)
        word, mask = bits[row.event]
        set_key = (unit_set, unit_code, month, row.subject, word)
        sets[set_key] = sets.get(set_key, 0) | mask
        count_key = (unit_set, unit_code, month, name_ids[row.event])
        counts[count_key] = counts.get(count_key, 0) + 1
    return Activity(
        days=[Day(*key, *values) for key, values in days.items()],
        name_sets=[NameSet(*key, names) for key, names in sets.items()],
        name_counts=[NameCount(*key, events) for key, events in counts.items()],
    )
