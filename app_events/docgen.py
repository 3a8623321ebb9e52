"""Writes docs/events.md from the registry, so the app team reads what the collector enforces:
`python -m app_events.docgen > docs/events.md` (a test fails when the file is stale)."""

from __future__ import annotations

import json

from app_events import registry, validation


def render() -> str:
    lines = [
        "# HoangHoaS app events",
        "",
        "Generated from `app_events/registry.py` by `python -m app_events.docgen`; do not edit by hand.",
        "",
        f"A request carries 1 to {validation.MAX_EVENTS} events (≤ 1 MiB decompressed). Each event: `event_id` (UUID,",
        "the same on every retry), `event` (`[a-z][a-z0-9_]{0,63}`), `created_at` (RFC 3339 with offset, the",
        "device's clock), optional `user_id` (≤ 128 characters), `unit_code` (with `unit_set`, the list it is from,",
        "when that is not the collector's `PULSE_UNIT_SET`), `session_id` and `properties`",
        f"(≤ {validation.MAX_PROPERTIES} keys, each value ≤ {validation.MAX_VALUE_BYTES} bytes as JSON).",
        "Events not listed below are accepted when well-formed and count as foreground activity; listed ones",
        "must match their schema. Background events never make a citizen active.",
        "",
        "| event | what it means | background | properties (JSON Schema) |",
        "|---|---|---|---|",
    ]
    for name, spec in registry.EVENTS.items():
        schema = json.dumps(spec.schema["properties"], ensure_ascii=False)
        required = ", ".join(spec.schema["required"]) or "—"
        lines.append(
            f"| `{name}` | {spec.description} | {'yes' if spec.background else 'no'} | "
            f"`{schema}`; required: {required} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
