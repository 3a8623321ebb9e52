"""ONVIF notification messages → `DeviceEvent`s. Pure: no client, no clock, no I/O.

`parse_notification` takes one `wsnt:NotificationMessage` — either the object zeep builds from a
PullMessagesResponse (what `onvif.session` gets from onvif-zeep-async) or the raw lxml element of the same XML
(a device whose message zeep could not bind to the schema hands us an element) — and says what it means:

- the topic picks the signal. The topic's namespace prefix is whatever the device declared (`tns1:`, `tt:`,
  `ns0:`), so only its path is compared, and trailing `/`, `//.` are dropped (Home Assistant sees devices send
  `tns1:RuleEngine/CellMotionDetector/Motion//.`). `VideoSource/ImageTooDark/ImagingService` and its
  `/AnalyticsService`, `/RecordingService` siblings all map by their common prefix;
- ONVIF property events (`PropertyOperation` Initialized / Changed / Deleted) describe a state that lasts, so
  they `hold`; the state is the first boolean Data item (`State`, `IsTamper`, `Failed`, …); `Deleted` ends it;
  a message with no boolean item is active (it happened);
- the channel is the video source's token text, verbatim (see `channel_of`); device-wide topics (storage,
  reboot) have none.
"""

from __future__ import annotations

from typing import Any

from camera_gateway.devices.events import DeviceEvent, Signal

# Topic path prefix → signal, first match wins (paths without the namespace prefix).
TOPICS: tuple[tuple[str, Signal], ...] = (
    ("VideoSource/SignalLoss", Signal.VIDEO_LOSS),
    ("VideoSource/ImageTooDark", Signal.TOO_DARK),
    ("VideoSource/ImageTooBright", Signal.TOO_BRIGHT),
    ("VideoSource/ImageTooBlurry", Signal.BLUR),
    ("VideoSource/GlobalSceneChange", Signal.SCENE_CHANGE),
    ("Device/HardwareFailure/StorageFailure", Signal.STORAGE_FAILURE),
    ("RuleEngine/TamperDetector/Tamper", Signal.TAMPER),  # the ONVIF analytics rule for a covered lens
)
_DEVICE_WIDE = ("Device/", "Monitoring/")

# Where a message names its video source, best first: the source's own token is the same in every topic of a
# device, while the configuration token may differ between topics (Tapo sends "vsconf" for analytics events).
_SOURCE_NAMES = ("VideoSourceToken", "VideoSource", "Source", "VideoSourceConfigurationToken")
_PROPERTY_OPERATIONS = frozenset({"Initialized", "Changed", "Deleted"})
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def parse_notification(msg: Any) -> list[DeviceEvent]:
    """One NotificationMessage (zeep object or lxml element) → its events (one, or none if it has no topic)."""
    topic = _topic(msg)
    if not topic:
        return []
    message = _message(msg)
    path = topic_path(topic)
    signal = next((s for prefix, s in TOPICS if path == prefix or path.startswith(prefix + "/")), Signal.OTHER)
    operation = _attr(message, "PropertyOperation") if message is not None else None
    holds = operation in _PROPERTY_OPERATIONS
    state = _state(_items(message, "Data"))
    active = operation != "Deleted" and (state is None or state)
    channel = None if path.startswith(_DEVICE_WIDE) else channel_of(_items(message, "Source"))
    return [DeviceEvent(signal, channel=channel, active=active, holds=holds, code=topic)]


def topic_path(topic: str) -> str:
    """`tns1:VideoSource/SignalLoss//.` → `VideoSource/SignalLoss`: the path without its namespace prefix.
    Vendor segments keep theirs (`Device/tnsaxis:Sensor/PIR`): only the root's prefix is the ONVIF namespace."""
    topic = topic.strip().rstrip("/.")
    root, sep, rest = topic.partition("/")
    return root.rpartition(":")[2] + sep + rest


def channel_of(source: list[tuple[str, str]]) -> str | None:
    """The channel key: the video source token's text, verbatim and stable (what GetVideoSources lists and what
    an operator maps in `DeviceConfig.channels`); None when the message names no video source."""
    items = dict(source)
    return next((items[name] for name in _SOURCE_NAMES if items.get(name)), None)


def _state(data: list[tuple[str, str]]) -> bool | None:
    for _, value in data:
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


# Both shapes of a message: zeep's objects (attribute access) and lxml elements (found by local name, since
# devices choose their own prefixes).


def _is_element(node: Any) -> bool:
    return hasattr(node, "tag") and hasattr(node, "iterchildren")


def _child(node: Any, name: str) -> Any:
    if node is None:
        return None
    if _is_element(node):
        return next((c for c in node.iterchildren() if _local(c.tag) == name), None)
    return getattr(node, name, None)


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _attr(node: Any, name: str) -> str | None:
    value = node.get(name) if _is_element(node) else getattr(node, name, None)
    return None if value is None else str(value)


def _topic(msg: Any) -> str:
    topic = _child(msg, "Topic")
    if topic is None:
        return ""
    text = topic.text if _is_element(topic) else getattr(topic, "_value_1", topic)
    return text.strip() if isinstance(text, str) else ""


def _message(msg: Any) -> Any:
    """The tt:Message inside wsnt:Message (zeep keeps the xsd:any content in `_value_1`)."""
    wrapper = _child(msg, "Message")
    if wrapper is None:
        return None
    if _is_element(wrapper):
        return next((c for c in wrapper.iterchildren() if _local(c.tag) == "Message"), None)
    return getattr(wrapper, "_value_1", None)


def _items(message: Any, part: str) -> list[tuple[str, str]]:
    """The (Name, Value) SimpleItems of a message's Source or Data."""
    group = _child(message, part)
    if group is None:
        return []
    if _is_element(group):
        nodes = [c for c in group.iterchildren() if _local(c.tag) == "SimpleItem"]
        return [(c.get("Name", ""), c.get("Value", "")) for c in nodes]
    return [(str(i.Name), str(i.Value)) for i in getattr(group, "SimpleItem", None) or [] if i.Value is not None]
