"""Deliberation results for staff: the conversations, each one's opinion-group map and
statements table, and the moderation queue.

Staff and admins see every conversation; a mediator sees those linked to their own dialogue
sessions (another's is "not found"). Figures come from ``engage.deliberation.report``, so the
page suppresses exactly as ``analyze``, the map and the briefing do. Moderation calls the
functions behind ``engage deliberation moderate``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from engage.accounts.roles import Permission
from engage.deliberation.analysis import analyze
from engage.deliberation.opinion_map import render_svg
from engage.deliberation.report import group_shares, published
from engage.deliberation.store import get_conversation, moderate, statements, texts, vote_matrix
from engage.deliberation.texting import notify_published
from engage.errors import UserError
from engage.storage.db import session_scope
from engage.storage.tables.deliberation import DelibConversation
from engage.storage.tables.scheduling import DialogueSession
from engage.web.console.guard import NotFound, Viewer, checked_form, need
from engage.web.console.render import render

router = APIRouter(prefix="/console/deliberation")
CAN = Depends(need(Permission.DELIBERATION_OWN))


def _own_sessions(db: Session, viewer: Viewer) -> list[int]:
    return [int(i) for i in db.exec(select(DialogueSession.id).where(
        DialogueSession.mediator == viewer.mediator)).all() if i is not None]


def _visible(db: Session, viewer: Viewer) -> list[DelibConversation]:
    query = select(DelibConversation).order_by(col(DelibConversation.id).desc())
    if not viewer.can(Permission.DELIBERATION_ALL):
        query = query.where(col(DelibConversation.dialogue_session_id).in_(
            _own_sessions(db, viewer)))
    return list(db.exec(query).all())


def _load(db: Session, viewer: Viewer, conversation_id: int) -> DelibConversation:
    """The conversation if this viewer may see it; otherwise 'not found' (never says why)."""
    try:
        conv = get_conversation(db, conversation_id)
    except UserError:
        raise NotFound("conversation") from None
    if not viewer.can(Permission.DELIBERATION_ALL) and (
            conv.dialogue_session_id not in _own_sessions(db, viewer)):
        raise NotFound("conversation")
    return conv


@router.get("")
def list_page(request: Request, viewer: Viewer = CAN) -> Response:
    with Session(request.app.state.engine) as db:
        items = _visible(db, viewer)
        pending = {c.id: len(statements(db, int(c.id or 0), "pending")) for c in items}
    return render(request, "deliberations.html", viewer=viewer, items=items, pending=pending)


def _results(db: Session, conversation_id: int, min_cell: int) -> dict[str, Any]:
    """The statements table: every statement with its per-group shares (or withheld)."""
    matrix = vote_matrix(db, conversation_id)
    shares: dict[str, dict[str, dict[str, int]]] = {}
    groups: list[Any] = []
    if len(matrix.participants) >= min_cell:  # as the briefing: nothing from fewer voters
        result = analyze(matrix)
        shares = group_shares(result, min_cell)
        groups = published(result, texts(db, conversation_id), min_cell).groups
    rows = [{"s": s, "shares": shares.get(str(s.id))}
            for s in statements(db, conversation_id) if s.status == "approved"]
    return {"voters": len(matrix.participants), "groups": groups, "rows": rows}


def _page(request: Request, viewer: Viewer, conversation_id: int, error: str | None = None,
          flash: str | None = None) -> Response:
    min_cell = request.app.state.settings.min_cell_size
    with Session(request.app.state.engine) as db:
        conv = _load(db, viewer, conversation_id)
        results = _results(db, conversation_id, min_cell)
        queue = statements(db, conversation_id, "pending")
        rejected = statements(db, conversation_id, "rejected")
    return render(request, "deliberation.html", viewer=viewer, conv=conv, k=min_cell,
                  queue=queue, rejected=rejected, error=error, flash=flash,
                  status=400 if error else 200, **results)


@router.get("/{conversation_id}")
def detail(request: Request, conversation_id: int, done: str | None = None,
           viewer: Viewer = CAN) -> Response:
    flash = {"approved": "Statement approved.", "rejected": "Statement rejected."}.get(done or "")
    return _page(request, viewer, conversation_id, flash=flash)


@router.get("/{conversation_id}/map.svg")
def opinion_map(request: Request, conversation_id: int, viewer: Viewer = CAN) -> Response:
    """The opinion-group picture (published groups only), as ``engage deliberation map``."""
    min_cell = request.app.state.settings.min_cell_size
    with Session(request.app.state.engine) as db:
        conv = _load(db, viewer, conversation_id)
        matrix = vote_matrix(db, conversation_id)
        # Fewer than min_cell voters can form no published group: the picture says so.
        view = published(analyze(matrix), texts(db, conversation_id), min_cell)
    return Response(render_svg(view, conv.topic), media_type="image/svg+xml",
                    headers={"cache-control": "private, no-store"})


@router.post("/{conversation_id}/moderate")
async def moderate_statement(request: Request, conversation_id: int,
                             viewer: Viewer = CAN) -> Response:
    """Approve or reject (with a reason) one pending statement; an approved author is told."""
    form = await checked_form(request)
    settings = request.app.state.settings
    now = datetime.now(UTC)
    try:
        decision = str(form.get("decision") or "")
        if decision not in ("approve", "reject"):
            raise UserError("choose approve or reject")
        if decision == "reject" and not str(form.get("reason") or "").strip():
            raise UserError("a rejection needs a reason (it is kept with the statement)")
        try:
            statement_id = int(str(form.get("statement") or ""))
        except ValueError:
            raise UserError("no statement was chosen") from None
        with session_scope(request.app.state.engine) as db:
            _load(db, viewer, conversation_id)
            item = next((s for s in statements(db, conversation_id, "pending")
                         if s.id == statement_id), None)
            if item is None:
                raise UserError("that statement is not waiting for moderation here")
            item = moderate(db, statement_id, approve=decision == "approve", by=viewer.actor,
                            reason=str(form.get("reason") or ""), now=now)
            notify_published(db, item, now=now, settings=settings)
            status = item.status
    except UserError as exc:
        return _page(request, viewer, conversation_id, error=str(exc).capitalize() + ".")
    return RedirectResponse(f"/console/deliberation/{conversation_id}?done={status}",
                            status_code=303)
