"""Mediators' dialogue sessions: create, invite, RSVPs and needs, check-in at the door, close,
and the briefing.

A mediator sees only their own sessions (another's is "not found"); an admin sees every one.
Contact details are shown only to the session's own mediator while it is open, through
``mediator_contacts``, which audits every look. Changes go through
``engage.scheduling.dialogue`` (the functions behind ``engage dialogue``).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from engage.accounts.roles import Permission, in_areas
from engage.analytics.briefing import build_briefing, export_briefing
from engage.commands.campaign import parse_when
from engage.errors import UserError
from engage.privacy import mask
from engage.scheduling import dialogue
from engage.storage.db import session_scope
from engage.storage.tables import Participant
from engage.storage.tables.scheduling import DialogueSession, SessionRsvp
from engage.web.console.choices import area_choices, known_areas
from engage.web.console.guard import Forbidden, NotFound, Viewer, checked_form, need
from engage.web.console.render import render

router = APIRouter(prefix="/console/sessions")
CAN = Depends(need(Permission.SESSIONS_OWN))
NEEDS = ("childcare", "interpretation", "ride")


def _now() -> datetime:
    return datetime.now(UTC)


def _own(viewer: Viewer, ds: DialogueSession) -> bool:
    return ds.mediator == viewer.mediator


def _load(request: Request, viewer: Viewer, session_id: int) -> DialogueSession:
    """The session if this viewer may see it; otherwise 'not found' (never says whose)."""
    with Session(request.app.state.engine) as db:
        try:
            ds = dialogue.get_session(session=db, session_id=session_id)
        except UserError:
            raise NotFound("session") from None
        db.expunge(ds)
    if not (_own(viewer, ds) or viewer.can(Permission.SESSIONS_ALL)):
        raise NotFound("session")
    return ds


def _areas_for(request: Request, viewer: Viewer) -> list[str]:
    choices = area_choices(request.app.state.settings.flows_dir)
    district_of = known_areas(request.app.state.settings.flows_dir).district_of
    return [a for a in (*choices.districts, *choices.neighbourhoods)
            if in_areas(viewer.user, a, district_of)]


@router.get("")
def list_page(request: Request, viewer: Viewer = CAN) -> Response:
    mine = None if viewer.can(Permission.SESSIONS_ALL) else viewer.mediator
    with Session(request.app.state.engine) as db:
        items = [(ds, dialogue.format_when(ds))
                 for ds in dialogue.list_sessions(session=db, mediator=mine)]
    return render(request, "sessions.html", viewer=viewer, items=items)


def _form(request: Request, viewer: Viewer, values: dict[str, str],
          error: str | None = None) -> Response:
    return render(request, "session_new.html", viewer=viewer, v=values, error=error,
                  areas=_areas_for(request, viewer), status=400 if error else 200)


@router.get("/new")
def new_page(request: Request, viewer: Viewer = CAN) -> Response:
    return _form(request, viewer, {"capacity": "20"})


@router.post("/new")
async def create(request: Request, viewer: Viewer = CAN) -> Response:
    form = await checked_form(request)
    v = {k: str(val) for k, val in form.items()}
    state = request.app.state
    tz = state.settings.timezone
    now = _now()
    try:
        if v.get("area", "") not in _areas_for(request, viewer):
            raise UserError("choose one of your areas from the list")
        if not v.get("start") or not v.get("end"):
            raise UserError("give the start and the end")
        starts_at = parse_when(v["start"], tz, now=now)
        ends_at = parse_when(v["end"], tz, now=now)
        try:
            capacity = int(v.get("capacity", ""))
        except ValueError:
            raise UserError("seats must be a whole number") from None
        assert starts_at is not None and ends_at is not None
        with session_scope(state.engine) as db:
            ds = dialogue.create_session(
                session=db, settings=state.settings, title=v.get("title", ""),
                area=v["area"], place=v.get("place", ""), starts_at=starts_at,
                ends_at=ends_at, capacity=capacity, mediator=viewer.mediator, now=now,
                description=v.get("description", ""), timezone=tz)
            session_id = ds.id
    except UserError as exc:
        return _form(request, viewer, v, error=str(exc).capitalize() + ".")
    return RedirectResponse(f"/console/sessions/{session_id}", status_code=303)


def _needs(db: Session, session_id: int) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for (needs,) in db.execute(select(SessionRsvp.needs).where(
            SessionRsvp.session_id == session_id,
            col(SessionRsvp.status).in_(("yes", "waitlisted")))):
        for need_name in (needs or "").replace(",", " ").split():
            counts[need_name] += 1
    return {n: counts.get(n, 0) for n in NEEDS}


def _contacts(request: Request, viewer: Viewer, ds: DialogueSession,
              db: Session) -> list[Any] | None:
    """The people coming, for the session's own mediator while it is open (audited)."""
    if not _own(viewer, ds) or ds.status != "scheduled":
        return None
    return dialogue.mediator_contacts(session=db, session_id=int(ds.id or 0),
                                      mediator=viewer.mediator, now=_now(),
                                      secret=request.app.state.settings.secret_bytes())


def _page(request: Request, viewer: Viewer, session_id: int, template: str,
          error: str | None = None, flash: str | None = None) -> Response:
    ds = _load(request, viewer, session_id)
    with session_scope(request.app.state.engine) as db:
        stats = dialogue.session_stats(session=db, session_id=session_id)
        needs = _needs(db, session_id)
        contacts = _contacts(request, viewer, ds, db)
    return render(request, template, viewer=viewer, ds=ds, when=dialogue.format_when(ds),
                  stats=stats.to_dict(), needs=needs, contacts=contacts, own=_own(viewer, ds),
                  error=error, flash=flash, status=400 if error else 200)


@router.get("/{session_id}")
def detail(request: Request, session_id: int, invited: int | None = None,
           viewer: Viewer = CAN) -> Response:
    flash = f"{invited} invitations queued." if invited is not None else None
    return _page(request, viewer, session_id, "session.html", flash=flash)


@router.post("/{session_id}/invite")
async def invite(request: Request, session_id: int, viewer: Viewer = CAN) -> Response:
    await checked_form(request)
    _load(request, viewer, session_id)
    runtime = request.app.state.runtime
    try:
        with session_scope(request.app.state.engine) as db:
            count = dialogue.invite(session=db, starter=runtime, session_id=session_id,
                                    now=_now(), settings=request.app.state.settings)
    except UserError as exc:
        return _page(request, viewer, session_id, "session.html", error=str(exc))
    # Post/redirect/get: reloading the page does not post the invitation again.
    return RedirectResponse(f"/console/sessions/{session_id}?invited={count}", status_code=303)


@router.post("/{session_id}/close")
async def close(request: Request, session_id: int, viewer: Viewer = CAN) -> Response:
    await checked_form(request)
    _load(request, viewer, session_id)
    try:
        with session_scope(request.app.state.engine) as db:
            dialogue.close_session(session=db, session_id=session_id, now=_now(),
                                   actor=viewer.actor)
    except UserError as exc:
        return _page(request, viewer, session_id, "session.html", error=str(exc))
    return RedirectResponse(f"/console/sessions/{session_id}", status_code=303)


@router.get("/{session_id}/checkin")
def checkin_page(request: Request, session_id: int, viewer: Viewer = CAN) -> Response:
    return _page(request, viewer, session_id, "checkin.html")


@router.post("/{session_id}/checkin")
async def checkin(request: Request, session_id: int, viewer: Viewer = CAN) -> Response:
    """Check someone in by hand: a person from the list, or by the number they give."""
    form = await checked_form(request)
    ds = _load(request, viewer, session_id)
    if not _own(viewer, ds):
        raise Forbidden("only the session's own mediator checks people in")
    key, number = str(form.get("key") or ""), str(form.get("number") or "").strip()
    now = _now()
    try:
        if ds.status != "scheduled":
            raise UserError(f"this session is {ds.status}")
        with session_scope(request.app.state.engine) as db:
            row = dialogue.get_session(session=db, session_id=session_id)
            if number:  # only a resident engage knows: a mistyped number is never created
                first = dialogue.check_in_number(session=db, ds=row, address=number,
                                                 secret=request.app.state.settings.secret_bytes(),
                                                 now=now)
            else:
                participant = db.exec(select(Participant).where(Participant.key == key)).first()
                if participant is None or participant.id is None:
                    raise UserError("that person is not on this session's list")
                first = dialogue.check_in(session=db, ds=row, participant_id=participant.id,
                                          now=now)
            _audit_checkin(db, viewer, session_id, now)
    except UserError as exc:
        return _page(request, viewer, session_id, "checkin.html", error=str(exc))
    who = mask(number) if number else "They"
    flash = f"{who} checked in." if first else f"{who} was already checked in."
    return _page(request, viewer, session_id, "checkin.html", flash=flash)


def _audit_checkin(db: Session, viewer: Viewer, session_id: int, now: datetime) -> None:
    from engage import audit

    audit.append(session=db, actor=viewer.actor, action="dialogue.checked_in_by_hand",
                 subject=f"dialogue_session:{session_id}", details={}, now=now)


@router.get("/{session_id}/briefing")
def briefing_page(request: Request, session_id: int, viewer: Viewer = CAN) -> Response:
    ds = _load(request, viewer, session_id)
    state = request.app.state
    try:
        briefing = build_briefing(engine=state.engine, settings=state.settings, area=ds.area,
                                  now=_now())
    except UserError as exc:
        return render(request, "message.html", viewer=viewer, heading="No briefing yet",
                      text=str(exc), link=f"/console/sessions/{session_id}",
                      link_label="Back to the session", status=200)
    return render(request, "briefing.html", viewer=viewer, ds=ds, b=briefing)


@router.get("/{session_id}/briefing.md")
def briefing_download(request: Request, session_id: int, viewer: Viewer = CAN) -> Response:
    """The briefing as Markdown, written and audited by ``export_briefing`` (as the CLI)."""
    ds = _load(request, viewer, session_id)
    state = request.app.state
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"briefing-session-{session_id}.md"
        try:
            _, digest = export_briefing(engine=state.engine, settings=state.settings, area=None,
                                        session_id=int(ds.id or 0), out=out, fmt="md",
                                        now=_now(), actor=viewer.actor)
        except UserError as exc:
            return render(request, "message.html", viewer=viewer, heading="No briefing yet",
                          text=str(exc), link=f"/console/sessions/{session_id}",
                          link_label="Back to the session")
        body = out.read_bytes()
    return Response(body, media_type="text/markdown; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{out.name}"',
        "x-content-sha256": digest})
