"""Campaign pages: list, create (with the reach shown before starting), progress, actions.

Every change goes through ``engage.scheduling.campaigns`` (the functions behind ``engage
campaign``), with the staffer's user id as the audit actor.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData

from engage.accounts.roles import Permission
from engage.commands.campaign import parse_when
from engage.errors import UserError
from engage.scheduling import campaigns
from engage.scheduling.audience import audience_size, parse_audience
from engage.storage.db import session_scope
from engage.web.console.choices import audience_options
from engage.web.console.guard import NotFound, Viewer, checked_form, need
from engage.web.console.render import fragment, render

router = APIRouter(prefix="/console/campaigns")
CAN = Depends(need(Permission.CAMPAIGNS))
PROGRESS_ROWS = ("pending", "invited", "started", "completed", "declined", "expired",
                 "opted_out", "skipped")
ACTIONS = {"start": campaigns.start_campaign, "resume": campaigns.start_campaign,
           "pause": campaigns.pause_campaign, "cancel": campaigns.cancel_campaign}


def _reach(request: Request, spec: str) -> tuple[int | None, str | None]:
    try:
        audience = parse_audience(spec)
        with Session(request.app.state.engine) as db:
            return audience_size(session=db, audience=audience), None
    except UserError as exc:
        return None, str(exc)


@router.get("")
def list_page(request: Request, viewer: Viewer = CAN) -> Response:
    with Session(request.app.state.engine) as db:
        items = campaigns.list_campaigns(session=db)
    return render(request, "campaigns.html", viewer=viewer, items=items)


def _form_page(request: Request, viewer: Viewer, values: dict[str, Any],
               error: str | None = None) -> Response:
    state = request.app.state
    reach, _ = _reach(request, str(values.get("audience") or "all"))
    return render(request, "campaign_new.html", viewer=viewer, v=values, error=error,
                  flows=sorted(state.runtime.catalog.flows()), reach=reach,
                  audiences=audience_options(state.settings.flows_dir),
                  status=400 if error else 200)


@router.get("/new")
def new_page(request: Request, viewer: Viewer = CAN) -> Response:
    return _form_page(request, viewer, {"flow": request.app.state.settings.default_flow,
                                        "audience": "all", "reminders": "1",
                                        "reminder_after": "24", "draft": "on"})


@router.get("/reach")
def reach_fragment(request: Request, audience: str = "all", viewer: Viewer = CAN) -> Response:
    """The live reach count (htmx swaps it in as the audience changes)."""
    reach, error = _reach(request, audience)
    return fragment("_reach.html", reach=reach, error=error)


def _number(form: FormData, name: str, kind: type, label: str) -> Any:
    raw = str(form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise UserError(f"{label}: {raw!r} is not a number") from None


@router.post("/new")
async def create(request: Request, viewer: Viewer = CAN) -> Response:
    form = await checked_form(request)
    values = {k: str(v) for k, v in form.items()}
    state = request.app.state
    now = datetime.now(UTC)
    tz = state.settings.timezone
    try:
        start = parse_when(values.get("start") or "now", tz, now=now)
        cutoff = parse_when(values.get("cutoff") or None, tz, now=now)
        reminders = _number(form, "reminders", int, "Reminders") or 0
        after = _number(form, "reminder_after", float, "Hours before a reminder") or 24.0
        with session_scope(state.engine) as db:
            campaign = campaigns.create_campaign(
                session=db, settings=state.settings, flow_id=values.get("flow", ""), now=now,
                audience=values.get("audience", "all"), start_at=start, cutoff_at=cutoff,
                throttle_per_minute=_number(form, "throttle", int, "Throttle"),
                reminders=reminders, reminder_after_hours=after,
                run_expiry_hours=_number(form, "expire_after", float, "Hours to finish"),
                quota=_number(form, "quota", int, "Quota"),
                quota_per_area=bool(form.get("quota_per_area")),
                name=values.get("name") or None, draft=bool(form.get("draft")),
                created_by=viewer.actor, known_flows=state.runtime.catalog,
                participants=None)
            campaign_id = campaign.id
    except UserError as exc:
        return _form_page(request, viewer, values, error=str(exc))
    return RedirectResponse(f"/console/campaigns/{campaign_id}", status_code=303)


def _load(request: Request, campaign_id: int) -> tuple[Any, Any]:
    with Session(request.app.state.engine) as db:
        try:
            campaign = campaigns.get_campaign(session=db, campaign_id=campaign_id)
        except UserError:
            raise NotFound("campaign") from None
        progress = campaigns.campaign_progress(session=db, campaign_id=campaign_id)
        db.expunge(campaign)
    return campaign, progress


@router.get("/{campaign_id}")
def detail(request: Request, campaign_id: int, viewer: Viewer = CAN) -> Response:
    campaign, progress = _load(request, campaign_id)
    return render(request, "campaign.html", viewer=viewer, c=campaign, p=progress,
                  rows=PROGRESS_ROWS)


@router.get("/{campaign_id}/progress")
def progress_fragment(request: Request, campaign_id: int, viewer: Viewer = CAN) -> Response:
    campaign, progress = _load(request, campaign_id)
    return fragment("_progress.html", c=campaign, p=progress, rows=PROGRESS_ROWS)


@router.post("/{campaign_id}/{action}")
async def act(request: Request, campaign_id: int, action: str, viewer: Viewer = CAN) -> Response:
    await checked_form(request)
    do = ACTIONS.get(action)
    if do is None:
        raise NotFound("action")
    try:
        with session_scope(request.app.state.engine) as db:
            do(session=db, campaign_id=campaign_id, now=datetime.now(UTC), actor=viewer.actor)
    except UserError as exc:
        if "no campaign" in str(exc) or "not found" in str(exc):
            raise NotFound("campaign") from None
        campaign, progress = _load(request, campaign_id)
        return render(request, "campaign.html", viewer=viewer, c=campaign, p=progress,
                      rows=PROGRESS_ROWS, error=str(exc), status=400)
    return RedirectResponse(f"/console/campaigns/{campaign_id}", status_code=303)
