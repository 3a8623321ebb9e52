"""Which connection loop and which check serve each kind of device. Imported lazily: ONVIF brings zeep."""

from __future__ import annotations

import importlib

from camera_gateway.devices.connection import Check, Session

# kind → (module, session function, check function)
_PROTOCOLS: dict[str, tuple[str, str, str]] = {
    "hikvision": ("camera_gateway.devices.hikvision", "session", "check"),
    "dahua": ("camera_gateway.devices.dahua", "session", "check"),
    "onvif": ("camera_gateway.devices.onvif", "session", "check"),
    "ezviz": ("camera_gateway.devices.ezviz", "session", "check"),
    "imou": ("camera_gateway.devices.imou", "session", "check"),
}


def protocol(kind: str) -> tuple[Session, Check]:
    module_name, session, check = _PROTOCOLS[kind]
    module = importlib.import_module(module_name)
    return getattr(module, session), getattr(module, check)
