"""The registry of known HoangHoaS app events (SPEC §7): each one's JSON Schema for `properties`, and whether it
counts as activity. docs/events.md is written from this module, so the app team and the code agree.

An event name the registry does not know is accepted when it is well-formed (`[a-z][a-z0-9_]{0,63}`), with the
generic limits only — the app ships new screens faster than the server is released — and counted as
foreground activity; `known` says which is which. Background events (`push_received` and those flagged here)
never make a subject active (SPEC §8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fastjsonschema

_ID = {"type": "string", "minLength": 1, "maxLength": 128}


def _props(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": True}


FEEDBACK_CATEGORIES = (
    "road_damage",
    "lighting",
    "environment",
    "security",
    "public_order",
    "flooding",
    "administrative",
    "other",
)


@dataclass(frozen=True)
class EventSpec:
    description: str
    schema: dict[str, Any]
    background: bool = False


EVENTS: dict[str, EventSpec] = {
    "app_open": EventSpec("The app came to the foreground.", _props({"cold_start": {"type": "boolean"}})),
    "screen_view": EventSpec(
        "A screen was shown.", _props({"screen": {"type": "string", "minLength": 1, "maxLength": 100}}, ("screen",))
    ),
    "login": EventSpec("A citizen logged in.", _props({"method": {"enum": ["password", "otp", "vneid", "zalo"]}})),
    "register": EventSpec("A citizen created an account.", _props({"method": {"type": "string", "maxLength": 32}})),
    "feedback_submitted": EventSpec(
        "A citizen sent a report (phản ánh hiện trường).",
        _props({"category": {"enum": list(FEEDBACK_CATEGORIES)}, "has_photo": {"type": "boolean"}}, ("category",)),
    ),
    "feedback_viewed": EventSpec("A citizen opened a report or its answer.", _props({"feedback_id": _ID})),
    "payment_completed": EventSpec(
        "A payment went through.",
        _props(
            {"service": {"type": "string", "maxLength": 64}, "amount_vnd": {"type": "integer", "minimum": 0}},
            ("service",),
        ),
    ),
    "news_read": EventSpec("A news article was opened.", _props({"article_id": _ID}, ("article_id",))),
    "camera_viewed": EventSpec(
        "A public camera view was opened.",
        _props({"camera_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"}}, ("camera_id",)),
    ),
    "model_village_vote": EventSpec(
        "A vote in the model-village programme (nông thôn mới kiểu mẫu).",
        _props(
            {"village_code": {"type": "string", "maxLength": 32}, "choice": {"type": "string", "maxLength": 64}},
            ("village_code",),
        ),
    ),
    "push_opened": EventSpec(
        "A push notification was opened.", _props({"campaign": {"type": "string", "maxLength": 64}})
    ),
    "push_received": EventSpec(
        "A push notification arrived (the citizen did nothing).",
        _props({"campaign": {"type": "string", "maxLength": 64}}),
        background=True,
    ),
    "background_sync": EventSpec("The app synced data in the background.", _props({}), background=True),
}

# Compiled to Python once (fastjsonschema): the collector checks every event of every request, and a generic
# validator costs more than the rest of the request's work together. The schemas stay within draft-07.
_VALIDATORS = {name: fastjsonschema.compile(spec.schema) for name, spec in EVENTS.items()}


def is_known(name: str) -> bool:
    return name in EVENTS


def is_background(name: str) -> bool:
    spec = EVENTS.get(name)
    return spec is not None and spec.background


def property_problem(name: str, properties: dict[str, Any]) -> str | None:
    """The first problem of `properties` against the event's schema, naming the property; None when valid."""
    validator = _VALIDATORS.get(name)
    if validator is None:
        return None
    try:
        validator(properties)
    except fastjsonschema.JsonSchemaValueException as error:
        # "data.category must be one of […]" → "properties.category: must be one of […]"
        name = error.name or "data"
        return f"{'properties' + name.removeprefix('data')}: {error.message.removeprefix(name).strip()}"
    return None
