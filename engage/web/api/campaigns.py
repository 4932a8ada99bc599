"""Campaigns (staff): list, create, show with progress, start, pause, resume, cancel.

Every action is the function ``engage campaign ...`` calls, with the caller as the audit
actor. A CSV audience names a file on the server, so it is refused here (use the CLI)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from sqlmodel import Session

from engage.accounts.roles import Permission
from engage.errors import UserError
from engage.scheduling import campaigns as ops
from engage.scheduling.audience import parse_audience
from engage.scheduling.clock import aware, zone
from engage.storage.tables.scheduling import Campaign
from engage.web.api.common import ID_MAX, TEXT, Limit, Offset, Page, iso, page, read, write
from engage.web.api.problems import ApiProblem, invalid
from engage.web.api.security import Caller, CallerDep, clock_now, permissions

router = APIRouter(tags=["campaigns"])
ACCESS = permissions(Permission.CAMPAIGNS)
CampaignId = Annotated[int, Path(ge=1, le=ID_MAX, description="The campaign's id")]
MAX_HOURS = 24.0 * 366


class CampaignCreate(BaseModel):
    """A new campaign; the same fields as ``engage campaign create``."""

    flow: str = Field(min_length=1, max_length=80, pattern=TEXT, examples=["satisfaction"])
    audience: str = Field("all", min_length=1, max_length=300, pattern=TEXT,
                          description="all, area:NAME, district:NAME, language:CODE or "
                          "participated:FLOW")
    start: datetime | None = Field(None, description="When to start (ISO-8601; without an "
                                   "offset: ENGAGE_TIMEZONE); default now")
    cutoff: datetime | None = Field(None, description="Nothing is sent after it")
    throttle_per_minute: int | None = Field(None, ge=1, le=100_000)
    reminders: int = Field(0, ge=0, le=ops.MAX_REMINDERS)
    reminder_after_hours: float = Field(24.0, gt=0, le=MAX_HOURS, allow_inf_nan=False)
    run_expiry_hours: float | None = Field(None, gt=0, le=MAX_HOURS, allow_inf_nan=False)
    quota: int | None = Field(None, ge=1, le=10_000_000)
    quota_per_area: bool = False
    name: str | None = Field(None, min_length=1, max_length=120, pattern=TEXT)
    draft: bool = Field(False, description="Create without starting (then POST .../start)")


class CampaignOut(BaseModel):
    id: int
    name: str
    flow: str
    status: str
    audience: str
    start_at: str
    cutoff_at: str | None
    throttle_per_minute: int | None
    reminders: int
    quota: int | None
    finish_reason: str | None


class Progress(BaseModel):
    """Recipients by status and messages, as ``engage campaign show`` counts them."""

    campaign_id: int
    status: str
    total: int
    pending: int
    invited: int
    started: int
    completed: int
    declined: int
    expired: int
    opted_out: int
    skipped: int
    reminders_sent: int
    messages_sent: int
    messages_queued: int


class CampaignDetail(CampaignOut):
    progress: Progress


def _out(c: Campaign) -> dict[str, Any]:
    assert c.id is not None
    return {"id": c.id, "name": c.name, "flow": c.flow_id, "status": c.status,
            "audience": c.audience, "start_at": c.start_at.isoformat(),
            "cutoff_at": iso(c.cutoff_at), "throttle_per_minute": c.throttle_per_minute,
            "reminders": c.reminders, "quota": c.quota, "finish_reason": c.finish_reason}


def _must_exist(request: Request, campaign_id: int) -> None:
    if read(request, lambda s: s.get(Campaign, campaign_id)) is None:
        raise ApiProblem(404, f"no campaign with id {campaign_id}", kind="not-found")


def _when(value: datetime | None, tz: str, field: str) -> datetime | None:
    if value is None:
        return None
    if not 2000 <= value.year <= 2100:
        raise invalid(field, "must be between the years 2000 and 2100")
    return aware(value if value.tzinfo else value.replace(tzinfo=zone(tz)))


@router.get("/v1/campaigns", response_model=Page[CampaignOut], openapi_extra=ACCESS,
            summary="List campaigns")
def list_campaigns(request: Request, _: CallerDep, limit: Limit = 50,
                   offset: Offset = 0) -> dict[str, Any]:
    """Oldest first, paginated with ``limit`` and ``offset``."""
    items = read(request, lambda s: [_out(c) for c in ops.list_campaigns(session=s)])
    return page(items, limit, offset)


@router.post("/v1/campaigns", response_model=CampaignOut, status_code=201, openapi_extra=ACCESS,
             summary="Create a campaign")
def create_campaign(request: Request, caller: CallerDep, body: CampaignCreate) -> dict[str, Any]:
    """Validated exactly as ``engage campaign create``; scheduled unless ``draft``."""
    state = request.app.state
    now = clock_now(request)
    try:
        if parse_audience(body.audience).kind == "csv":
            raise invalid("body.audience", "a CSV audience is a file on the server: create it "
                          "with `engage campaign create --audience csv:FILE`")
    except UserError as exc:
        raise invalid("body.audience", str(exc)) from None
    tz = state.settings.timezone
    start = _when(body.start, tz, "body.start")
    cutoff = _when(body.cutoff, tz, "body.cutoff")
    runtime = state.runtime
    campaign = write(request, lambda s: ops.create_campaign(
        session=s, settings=state.settings, flow_id=body.flow, now=now, audience=body.audience,
        start_at=start, cutoff_at=cutoff, throttle_per_minute=body.throttle_per_minute,
        reminders=body.reminders, reminder_after_hours=body.reminder_after_hours,
        run_expiry_hours=body.run_expiry_hours, quota=body.quota,
        quota_per_area=body.quota_per_area, name=body.name, draft=body.draft,
        created_by=caller.actor, known_flows=runtime.catalog, participants=runtime))
    return _out(campaign)


@router.get("/v1/campaigns/{campaign_id}", response_model=CampaignDetail, openapi_extra=ACCESS,
            summary="A campaign and its progress")
def show_campaign(request: Request, _: CallerDep, campaign_id: CampaignId) -> dict[str, Any]:
    _must_exist(request, campaign_id)
    return read(request, lambda s: {
        **_out(ops.get_campaign(session=s, campaign_id=campaign_id)),
        "progress": ops.campaign_progress(session=s, campaign_id=campaign_id).to_dict()})


def _transition(request: Request, caller: Caller, campaign_id: int, action: str
                ) -> dict[str, Any]:
    _must_exist(request, campaign_id)
    now = clock_now(request)

    def act(session: Session) -> Campaign:
        campaign = ops.get_campaign(session=session, campaign_id=campaign_id)
        if action == "start" and campaign.status == "paused":
            raise UserError(f"campaign {campaign_id} is paused: resume it instead")
        if action == "resume" and campaign.status != "paused":
            raise UserError(f"campaign {campaign_id} is {campaign.status}, not paused")
        function = {"start": ops.start_campaign, "resume": ops.start_campaign,
                    "pause": ops.pause_campaign, "cancel": ops.cancel_campaign}[action]
        result: Campaign = function(session=session, campaign_id=campaign_id, now=now,
                                    actor=caller.actor)
        return result

    return _out(write(request, act, conflict=True))


_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The campaign's state does not allow it"}}


TRANSITIONS = {
    "start": ("Start a draft campaign", "A scheduled campaign starts at its start time."),
    "pause": ("Pause a campaign", "Stop inviting and reminding; queued messages are held, "
              "not lost."),
    "resume": ("Resume a paused campaign", "Held messages are released."),
    "cancel": ("Cancel a campaign for good", "Nobody else is invited or reminded; queued "
               "messages are cancelled."),
}


def _transition_route(action: str) -> Callable[..., dict[str, Any]]:
    def route(request: Request, caller: CallerDep, campaign_id: CampaignId) -> dict[str, Any]:
        return _transition(request, caller, campaign_id, action)

    route.__name__ = f"{action}_campaign"
    route.__doc__ = TRANSITIONS[action][1]
    return route


for _action, (_summary, _) in TRANSITIONS.items():
    router.add_api_route(f"/v1/campaigns/{{campaign_id}}/{_action}", _transition_route(_action),
                         methods=["POST"], response_model=CampaignOut, openapi_extra=ACCESS,
                         responses=_CONFLICT, summary=_summary)
