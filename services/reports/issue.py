"""Issuing the monthly briefing: on request (CLI, API) or by the schedule — on the first day of a month the
previous month's report is kept (its figures, so it can be re-issued with the numbers it had) and queued to the
notification channels that ask for reports: e-mail gets the XLSX and PDF attached, the others a short text with
the link to the dashboard's reports page. The schedule runs in the `pulse alerts` leader (one instance at a
time), and catches up if it was down on the first."""

from __future__ import annotations

import json
import logging
import re
from datetime import date, datetime

from services.core.db import DbConn
from services.core.settings import Settings
from services.reports import FORMATS, filename, render
from services.reports.gather import gather, previous_month
from services.reports.model import MonthlyReport
from services.reports.texts import Texts

log = logging.getLogger(__name__)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# What an e-mail carries: the spreadsheet to work with and the PDF to print.
MAIL_FORMATS = ("xlsx", "pdf")


def parse_month(value: str) -> date:
    match = _MONTH.match(value)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise ValueError("month: expected YYYY-MM")
    return date(int(match.group(1)), int(match.group(2)), 1)


def keep(conn: DbConn, report: MonthlyReport, lang: str, *, scheduled: bool = False) -> int | None:
    """Store the figures; None when the scheduled report of that month was kept already (by another run)."""
    row = conn.execute(
        "INSERT INTO reports (month, unit_set, lang, scheduled, figures) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (month, unit_set, lang) WHERE scheduled DO NOTHING RETURNING report_id",
        (report.month, report.unit_set, lang, scheduled, json.dumps(report.to_json(), ensure_ascii=False)),
    ).fetchone()
    return None if row is None else int(row["report_id"])


def make(
    conn: DbConn,
    settings: Settings,
    *,
    month: date,
    unit_set: str | None,
    fmt: str,
    lang: str,
    keep_it: bool = False,
    now: datetime | None = None,
    unit: str | None = None,
) -> tuple[MonthlyReport, bytes]:
    """Read the figures now and render them (and keep them, when asked); `unit`: that unit's own briefing."""
    if lang not in ("vi", "en"):
        raise ValueError("lang: vi or en")
    report = gather(
        conn,
        settings,
        month=month,
        unit_set=unit_set or settings.unit_set,
        now=now or datetime.now(settings.tz),
        unit=unit,
    )
    data = render(report, fmt, lang)
    if keep_it:
        keep(conn, report, lang)
    return report, data


def kept(conn: DbConn, report_id: int) -> tuple[MonthlyReport, str] | None:
    row = conn.execute("SELECT figures, lang FROM reports WHERE report_id = %s", (report_id,)).fetchone()
    return None if row is None else (MonthlyReport.from_json(row["figures"]), row["lang"])


def list_kept(conn: DbConn, limit: int = 100) -> list[dict]:
    rows = conn.execute(
        "SELECT report_id, month, unit_set, figures->>'unit_code' AS unit_code, lang, issued_at, scheduled FROM reports"
        " ORDER BY month DESC, issued_at DESC LIMIT %s",
        (limit,),
    ).fetchall()
    return [
        {
            "id": r["report_id"],
            "month": r["month"].strftime("%Y-%m"),
            "unit_set": r["unit_set"],
            "unit_code": r["unit_code"],  # a unit's own briefing; None for a whole set's
            "lang": r["lang"],
            "issued_at": r["issued_at"].isoformat(),
            "scheduled": r["scheduled"],
        }
        for r in rows
    ]


def attachments(report: MonthlyReport, lang: str) -> list[tuple[str, str, bytes]]:
    return [(filename(report, fmt, lang), FORMATS[fmt][1], render(report, fmt, lang)) for fmt in MAIL_FORMATS]


def run_schedule(conn: DbConn, settings: Settings, now: datetime) -> int | None:
    """If last month's scheduled report is not kept yet, keep it and queue it to the channels that want it.
    Returns the new report's id, or None when there was nothing to do."""
    month = previous_month(now.astimezone(settings.tz).date().replace(day=1))
    lang = "vi"
    done = conn.execute(
        "SELECT 1 FROM reports WHERE scheduled AND month = %s AND unit_set = %s AND lang = %s",
        (month, settings.unit_set, lang),
    ).fetchone()
    if done:
        return None
    report = gather(conn, settings, month=month, unit_set=settings.unit_set, now=now)
    with conn.transaction():
        report_id = keep(conn, report, lang, scheduled=True)
        if report_id is None:
            return None
        channels = conn.execute(
            "SELECT channel_id, lang FROM channels WHERE wants_reports AND disabled_at IS NULL"
        ).fetchall()
        for channel in channels:
            t = Texts(report, channel["lang"])
            subject = " ".join(t.title_lines())
            link = f"{settings.public_url.rstrip('/')}/#/reports"
            body = "\n".join([subject, t("as_of", time=t.moment(report.as_of)), *t.shortfall_lines(), link])
            payload = {"event": "report", "report_id": report_id, "month": f"{month:%Y-%m}", "link": link}
            conn.execute(
                "INSERT INTO notifications (idempotency_key, channel_id, event, incident_ids, subject, body, payload,"
                " next_attempt_at, created_at) VALUES (%s, %s, 'report', '{}', %s, %s, %s, %s, %s)"
                " ON CONFLICT (idempotency_key) DO NOTHING",
                (
                    f"report-{report_id}-{channel['channel_id']}",
                    channel["channel_id"],
                    subject,
                    body,
                    json.dumps(payload, ensure_ascii=False),
                    now,
                    now,
                ),
            )
    log.info("monthly report %s of %s kept and queued to %d channel(s)", report_id, month, len(channels))
    return report_id
