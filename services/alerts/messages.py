"""The text of notifications, in Vietnamese (default) or English, naming the unit and the cameras (SPEC §6).
Pure: the engine passes what it read from the database; times are shown in PULSE_TIMEZONE."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

MAX_NAMES = 10  # a message lists at most this many cameras, then "and N more"


@dataclass(frozen=True)
class IncidentInfo:
    incident_id: int
    kind: str
    unit_name: str | None
    cameras: tuple[tuple[str, str], ...]  # (camera_id, name)
    gateway_name: str | None
    opened_at: datetime
    resolved_at: datetime | None


_KIND = {
    "vi": {
        "camera_down": "Camera mất kết nối",
        "camera_degraded": "Camera hình ảnh kém",
        "commune_outage": "Mất kết nối diện rộng",
        "gateway_down": "Cổng thu thập không gửi dữ liệu",
        "pipeline_stalled": "Hệ thống xử lý dữ liệu bị nghẽn",
    },
    "en": {
        "camera_down": "Camera down",
        "camera_degraded": "Camera picture degraded",
        "commune_outage": "Commune-wide outage",
        "gateway_down": "Gateway silent",
        "pipeline_stalled": "Data pipeline stalled",
    },
}
_EVENT = {
    "vi": {"opened": "🔴", "reminder": "⏰ Nhắc lại:", "resolved": "✅ Đã khôi phục:", "flapping": "🔁 Chập chờn:"},
    "en": {"opened": "🔴", "reminder": "⏰ Reminder:", "resolved": "✅ Resolved:", "flapping": "🔁 Flapping:"},
}
_WORDS = {
    "vi": {
        "since": "từ",
        "until": "đến",
        "more": "và {n} camera khác",
        "cameras": "{n} camera",
        "district": "Toàn huyện",
        "pipeline": "Chưa nhận được dữ liệu mới; tạm dừng cảnh báo camera cho đến khi hệ thống hoạt động lại.",
        "gateway": "Cổng {name}: các camera của cổng này chưa rõ trạng thái.",
        "flapping": "Camera liên tục mất/có kết nối; tạm giữ các thông báo cho đến khi ổn định 15 phút.",
    },
    "en": {
        "since": "since",
        "until": "until",
        "more": "and {n} more cameras",
        "cameras": "{n} cameras",
        "district": "District",
        "pipeline": "No new data arrives; camera alerts are held until the pipeline recovers.",
        "gateway": "Gateway {name}: the state of its cameras is unknown.",
        "flapping": "The camera keeps going up and down; its messages are held until it is stable for 15 minutes.",
    },
}


def _names(cameras: Sequence[tuple[str, str]], lang: str) -> str:
    shown = [f"{name} ({cid})" if name and name != cid else cid for cid, name in cameras[:MAX_NAMES]]
    if len(cameras) > MAX_NAMES:
        shown.append(_WORDS[lang]["more"].format(n=len(cameras) - MAX_NAMES))
    return ", ".join(shown)


def _when(t: datetime, tz: tzinfo) -> str:
    return t.astimezone(tz).strftime("%H:%M %d/%m/%Y")


def compose(
    event: str, unit_name: str | None, incidents: Sequence[IncidentInfo], *, lang: str, tz: tzinfo
) -> tuple[str, str]:
    """(subject, text) of one message about one unit's incidents."""
    words, kinds = _WORDS[lang], _KIND[lang]
    place = unit_name or words["district"]
    titles = sorted({kinds[i.kind] for i in incidents})
    subject = f"{_EVENT[lang][event]} {place}: {', '.join(titles)}".strip()
    lines = [subject]
    for i in incidents:
        when = f"{words['since']} {_when(i.opened_at, tz)}"
        if event == "resolved" and i.resolved_at is not None:
            when += f" {words['until']} {_when(i.resolved_at, tz)}"
        line = f"• {kinds[i.kind]} — {when}"
        if i.cameras:
            line += f" — {words['cameras'].format(n=len(i.cameras))}: {_names(i.cameras, lang)}"
        if i.kind == "gateway_down" and i.gateway_name:
            line += " — " + words["gateway"].format(name=i.gateway_name)
        if i.kind == "pipeline_stalled":
            line += " — " + words["pipeline"]
        lines.append(line)
    if event == "flapping":
        lines.append(words["flapping"])
    return subject, "\n".join(lines)
