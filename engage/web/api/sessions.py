"""Dialogue sessions (mediators; admins see all): list, create, invite, RSVP counts,
check-in, close and the briefing.

A mediator sees only sessions they own: another mediator's session answers 404, exactly as
a session that does not exist, so ids reveal nothing. A mediator limited to areas can only
create sessions there. Every action is the function ``engage dialogue ...`` calls."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from engage.accounts.areas import load_known_areas
from engage.accounts.roles import Permission, can, in_areas, mediator_name
from engage.analytics.briefing import area_for_session, build_briefing, render_markdown
from engage.analytics.exports import record_export
from engage.analytics.exports import sha256_hex as digest_of
from engage.errors import UserError
from engage.scheduling import dialogue as ops
from engage.scheduling.clock import zone, zone_name_ok
from engage.storage.tables.scheduling import DialogueSession
from engage.web.api.common import (
    ID_MAX,
    TEXT,
    Limit,
    Offset,
    Page,
    engine_of,
    page,
    read,
    settings_of,
    wants,
    write,
)
from engage.web.api.problems import ApiProblem, invalid
from engage.web.api.security import Caller, CallerDep, clock_now, permissions

router = APIRouter(tags=["dialogue sessions"])
ACCESS = permissions(Permission.SESSIONS_OWN, Permission.SESSIONS_ALL)
SessionId = Annotated[int, Path(ge=1, le=ID_MAX, description="The session's id")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such session, or not one of yours"}}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The session's state does not allow it"}, **_NOT_FOUND}


class SessionCreate(BaseModel):
    title: str = Field(min_length=1, max_length=160, pattern=TEXT)
    area: str = Field(min_length=1, max_length=120, pattern=TEXT,
                      description="A neighbourhood or district of the gazetteer")
    place: str = Field(min_length=1, max_length=200, pattern=TEXT)
    starts_at: datetime = Field(description="ISO-8601; without an offset: the session's zone")
    ends_at: datetime
    capacity: int = Field(ge=1, le=10_000)
    description: str = Field("", max_length=2000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")
    timezone: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+\-/]*$",
                                 description="IANA zone; default ENGAGE_TIMEZONE")


class SessionOut(BaseModel):
    id: int
    title: str
    area: str
    place: str
    starts_at: str
    ends_at: str
    when: str
    timezone: str
    capacity: int
    status: str
    checkin_code: str = Field(description="What residents text at the door to check in")


class RsvpCounts(BaseModel):
    """RSVPs by status, attendance and feedback (``engage dialogue show`` counts)."""

    invited: int
    yes: int
    no: int
    maybe: int
    waitlisted: int
    opted_out: int
    walk_in: int
    attended: int
    feedback_sent: int
    feedback_completed: int


class SessionDetail(SessionOut):
    rsvps: RsvpCounts


class Invited(BaseModel):
    session_id: int
    invited: int = Field(description="Invitations queued by this call")


class CheckinRequest(BaseModel):
    number: str = Field(min_length=3, max_length=32, pattern=r"^[0-9+() .\-]+$",
                        description="The resident's phone number, for a check-in by hand")


class CheckinResult(BaseModel):
    session_id: int
    first_time: bool = Field(description="False when they were already checked in")
    attended: int


class BriefingOut(BaseModel):
    """The briefing ``engage export briefing --format json`` writes."""

    area: str
    dimension: str
    generated_at: str
    window: str
    min_cell_size: int
    trend: list[dict[str, Any]]
    themes: list[dict[str, Any]]
    quotes: list[str]
    notes: list[str]
    method: dict[str, str]


def _out(ds: DialogueSession) -> dict[str, Any]:
    assert ds.id is not None
    return {"id": ds.id, "title": ds.title, "area": ds.area, "place": ds.place,
            "starts_at": ds.starts_at.isoformat(), "ends_at": ds.ends_at.isoformat(),
            "when": ops.format_when(ds), "timezone": ds.timezone, "capacity": ds.capacity,
            "status": ds.status, "checkin_code": ds.checkin_code}


def _sees_all(caller: Caller) -> bool:
    return can(caller.user, Permission.SESSIONS_ALL)


def _owned(request: Request, caller: Caller, session_id: int) -> None:
    """404 unless the session exists and the caller may see it."""
    ds = read(request, lambda s: s.get(DialogueSession, session_id))
    assert caller.user is not None
    if ds is None or not (_sees_all(caller) or ds.mediator == mediator_name(caller.user)):
        raise ApiProblem(404, f"no dialogue session with id {session_id} among yours",
                         kind="not-found")


@router.get("/v1/sessions", response_model=Page[SessionOut], openapi_extra=ACCESS,
            summary="List dialogue sessions (a mediator's own)")
def list_sessions(request: Request, caller: CallerDep, limit: Limit = 50,
                  offset: Offset = 0) -> dict[str, Any]:
    """Soonest first. Mediators see their own sessions; admins see every session."""
    assert caller.user is not None
    mine = None if _sees_all(caller) else mediator_name(caller.user)
    items = read(request, lambda s: [_out(d) for d in ops.list_sessions(session=s,
                                                                        mediator=mine)])
    return page(items, limit, offset)


@router.post("/v1/sessions", response_model=SessionOut, status_code=201, openapi_extra=ACCESS,
             summary="Create a dialogue session", responses={403: {
                 "description": "The area is outside the mediator's areas"}})
def create_session(request: Request, caller: CallerDep, body: SessionCreate) -> dict[str, Any]:
    """Owned by the caller. The area must be known, and within the caller's areas."""
    assert caller.user is not None
    settings = settings_of(request)
    known = load_known_areas(settings.flows_dir)
    try:
        area = known.resolve([body.area])[0]
    except ValueError as exc:
        raise invalid("body.area", str(exc)) from None
    if not in_areas(caller.user, area, known.district_of):
        raise ApiProblem(403, f"your account is limited to {', '.join(caller.user.areas)}",
                         kind="forbidden")
    tz = body.timezone or settings.timezone
    if not zone_name_ok(tz):
        raise invalid("body.timezone", f"unknown time zone {tz!r}")
    times = []
    for field, value in (("body.starts_at", body.starts_at), ("body.ends_at", body.ends_at)):
        if not 2000 <= value.year <= 2100:
            raise invalid(field, "must be between the years 2000 and 2100")
        times.append(value if value.tzinfo else value.replace(tzinfo=zone(tz)))
    owner = mediator_name(caller.user)
    ds = write(request, lambda s: ops.create_session(
        session=s, settings=settings, title=body.title, area=area, place=body.place,
        starts_at=times[0], ends_at=times[1], capacity=body.capacity, mediator=owner,
        now=clock_now(request), description=body.description, timezone=tz))
    return _out(ds)


@router.get("/v1/sessions/{session_id}", response_model=SessionDetail, openapi_extra=ACCESS,
            responses=_NOT_FOUND, summary="A session and its RSVP counts")
def show_session(request: Request, caller: CallerDep, session_id: SessionId) -> dict[str, Any]:
    _owned(request, caller, session_id)
    return read(request, lambda s: {
        **_out(ops.get_session(session=s, session_id=session_id)),
        "rsvps": ops.session_stats(session=s, session_id=session_id).to_dict()})


@router.get("/v1/sessions/{session_id}/rsvps", response_model=RsvpCounts, openapi_extra=ACCESS,
            responses=_NOT_FOUND, summary="RSVP, waitlist and attendance counts")
def session_rsvps(request: Request, caller: CallerDep, session_id: SessionId
                  ) -> dict[str, Any]:
    _owned(request, caller, session_id)
    return read(request, lambda s: ops.session_stats(session=s,
                                                     session_id=session_id).to_dict())


@router.post("/v1/sessions/{session_id}/invite", response_model=Invited, openapi_extra=ACCESS,
             responses=_CONFLICT, summary="Invite the area's opted-in residents")
def invite(request: Request, caller: CallerDep, session_id: SessionId) -> dict[str, Any]:
    """Everyone in the area who agreed to dialogue invitations and was not invited yet."""
    _owned(request, caller, session_id)
    runtime = request.app.state.runtime
    settings = request.app.state.settings
    count = write(request, lambda s: ops.invite(session=s, starter=runtime,
                                                session_id=session_id, now=clock_now(request),
                                                settings=settings),
                  conflict=True)
    return {"session_id": session_id, "invited": count}


@router.post("/v1/sessions/{session_id}/checkin", response_model=CheckinResult,
             openapi_extra=ACCESS, responses=_CONFLICT, summary="Check a resident in by hand")
def checkin(request: Request, caller: CallerDep, session_id: SessionId,
            body: CheckinRequest) -> dict[str, Any]:
    """For someone at the door who cannot text the code. The number is never echoed."""
    _owned(request, caller, session_id)
    now = clock_now(request)

    def act(s: Session) -> tuple[bool, int]:
        ds = ops.get_session(session=s, session_id=session_id)
        if ds.status != "scheduled":
            raise UserError(f"session {session_id} is {ds.status}")
        try:  # only a resident engage knows: a mistyped number is reported, never created
            first = ops.check_in_number(session=s, ds=ds, address=body.number,
                                        secret=request.app.state.settings.secret_bytes(),
                                        now=now)
        except UserError as exc:
            raise ApiProblem(422, f"body.number: {exc}", kind="invalid-parameters") from None
        return first, ops.session_stats(session=s, session_id=session_id).attended

    first, attended = write(request, act, conflict=True)
    return {"session_id": session_id, "first_time": first, "attended": attended}


@router.post("/v1/sessions/{session_id}/close", response_model=SessionOut,
             openapi_extra=ACCESS, responses=_CONFLICT, summary="Close a session")
def close(request: Request, caller: CallerDep, session_id: SessionId) -> dict[str, Any]:
    """Contact details are no longer available; the feedback survey still goes out."""
    _owned(request, caller, session_id)
    ds = write(request, lambda s: ops.close_session(session=s, session_id=session_id,
                                                    now=clock_now(request), actor=caller.actor),
               conflict=True)
    return _out(ds)


@router.get("/v1/sessions/{session_id}/briefing", response_model=BriefingOut,
            openapi_extra=ACCESS, summary="The session's briefing",
            responses={**_NOT_FOUND, 200: {"content": {"text/markdown": {
                "schema": {"type": "string"}}}, "description": "JSON, or Markdown when the "
                "Accept header prefers text/markdown"}})
def briefing(request: Request, caller: CallerDep, session_id: SessionId) -> Response:
    """Trend, themes and consented, scrubbed quotes for the session's area, suppressed like
    every export. Audited as ``export.briefing``."""
    _owned(request, caller, session_id)
    engine = engine_of(request)
    settings = settings_of(request)
    now = clock_now(request)
    try:
        result = build_briefing(engine=engine, settings=settings,
                                area=area_for_session(engine, session_id), now=now)
    except UserError as exc:
        raise ApiProblem(409, str(exc), kind="conflict") from None
    markdown = wants(request, "text/markdown")
    body = render_markdown(result) if markdown else BriefingOut(**asdict(result)
                                                                ).model_dump_json()
    data = body.encode("utf-8")
    record_export(engine, action="export.briefing", subject="api", details={
        "area": result.area, "dimension": result.dimension, "session_id": session_id,
        "window": result.window, "sha256": digest_of(data), "quotes": len(result.quotes),
        "min_cell_size": settings.min_cell_size}, now=now, actor=caller.actor)
    media = "text/markdown; charset=utf-8" if markdown else "application/json"
    return Response(content=data, media_type=media)
