"""The audit log's chain status and its recent entries (actors are ids; no personal data)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from engage import audit
from engage.accounts.roles import Permission
from engage.storage.tables import AuditEntry
from engage.web.console.guard import Viewer, need
from engage.web.console.render import render

router = APIRouter(prefix="/console/audit")
RECENT = 50


@router.get("")
def page(request: Request, viewer: Viewer = Depends(need(Permission.AUDIT_STATUS))) -> Response:
    with Session(request.app.state.engine) as db:
        result = audit.verify(db)
        entries = list(db.exec(select(AuditEntry).order_by(col(AuditEntry.seq).desc())
                               .limit(RECENT)))
    return render(request, "audit.html", viewer=viewer, result=result, entries=entries)
