"""`/api/v1/audit` (admins): the audit trail, newest first, filtered as `pulse audit list` filters it; older pages
through `before` (the last `audit_id` of the page before). Entries have SPEC §12's fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from services.api.deps import AdminOnly, ReadConn
from services.core import audit

router = APIRouter(prefix="/api/v1", tags=["audit"])

_FILTER = r"^[^\x00]{1,200}$"


@router.get("/audit", summary="The audit trail, newest first (admin)")
def list_audit(
    principal: AdminOnly,
    conn: ReadConn,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: Annotated[str | None, Query(pattern=_FILTER, description="an account or its start (cli:, db:)")] = None,
    action: Annotated[str | None, Query(pattern=_FILTER, description="the action or its start")] = None,
    object: Annotated[str | None, Query(pattern=_FILTER, description="a kind, or kind:id (operators:7)")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="only entries older than this audit_id (the next page)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    rows = audit.entries(
        conn, since=since, until=until, actor=actor, action=action, obj=object, before_id=before, limit=limit
    )
    return {
        "entries": [{**r, "at": r["at"].isoformat()} for r in rows],
        "next_before": rows[-1]["audit_id"] if len(rows) == limit else None,
    }
