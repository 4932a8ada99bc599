"""``engage campaign create|start|pause|cancel|show|list``: survey campaigns from the shell.

``create`` prints the new campaign's id alone on stdout, so scripts can capture it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer
from rich.live import Live
from rich.table import Table

from engage.commands.common import console, err_console
from engage.commands.scheduler import Context, fail, open_context
from engage.errors import EngageError, UserError

if TYPE_CHECKING:
    from sqlmodel import Session

    from engage.runtime import Runtime
    from engage.storage.tables.scheduling import Campaign

T = TypeVar("T")

campaign_app = typer.Typer(help="Survey campaigns: audience, pacing, reminders, progress.",
                           no_args_is_help=True)
UrlOption = Annotated[str | None, typer.Option("--url", help="Database URL "
                                               "(default: ENGAGE_DATABASE_URL).")]
PROGRESS_STATES = ("invited", "started", "completed", "declined", "opted_out")


def register(app: typer.Typer) -> None:
    app.add_typer(campaign_app, name="campaign")


def parse_when(value: str | None, tz_name: str, *, now: datetime) -> datetime | None:
    """``now`` or ISO-8601; a time without an offset is read in ENGAGE_TIMEZONE."""
    from engage.scheduling.clock import aware, zone

    if value is None:
        return None
    if value.strip().lower() == "now":
        return now
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UserError(f"not a time: {value!r} (use now or ISO-8601, e.g. "
                        "2026-07-01T09:00-04:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(tz_name))
    return aware(moment)


def _run(ctx: Context, action: Callable[[Session], T]) -> T:
    """``action`` in one transaction; an engage error becomes one line on stderr."""
    from engage.storage.db import session_scope

    try:
        with session_scope(ctx.engine) as session:
            return action(session)
    except EngageError as exc:
        fail(str(exc))


@campaign_app.command("create")
def create(
    flow: Annotated[str, typer.Option("--flow", help="Flow id, e.g. satisfaction.")],
    audience: Annotated[str, typer.Option(help="all | area:NAME | district:NAME | language:es | "
                                          "participated:FLOW | csv:FILE")] = "all",
    start: Annotated[str, typer.Option(help="now or ISO-8601")] = "now",
    cutoff: Annotated[str | None, typer.Option(help="ISO-8601: nothing is sent after it")] = None,
    throttle: Annotated[int | None, typer.Option(help="Messages per minute (default: none)",
                                                 min=1)] = None,
    reminders: Annotated[int, typer.Option(help="Reminders to non-responders", min=0)] = 0,
    reminder_after: Annotated[float, typer.Option(help="Hours before each reminder")] = 24.0,
    expire_after: Annotated[float | None, typer.Option(help="Hours a resident has to finish")
                            ] = None,
    quota: Annotated[int | None, typer.Option(help="Stop after N completes", min=1)] = None,
    quota_per_area: Annotated[bool, typer.Option(help="Apply the quota to each area")] = False,
    name: Annotated[str | None, typer.Option(help="A name for staff screens")] = None,
    draft: Annotated[bool, typer.Option(help="Create without starting (engage campaign start)")
                     ] = False,
    url: UrlOption = None,
) -> None:
    """Create a campaign; prints its id alone on stdout."""
    from engage.clock import utcnow
    from engage.scheduling.campaigns import create_campaign

    ctx = open_context(url)
    now = utcnow()
    try:
        start_at = parse_when(start, ctx.settings.timezone, now=now)
        cutoff_at = parse_when(cutoff, ctx.settings.timezone, now=now)
    except UserError as exc:
        fail(str(exc))
    runtime = cast("Runtime", ctx.runtime)

    def make(s: Session) -> tuple[Campaign, int | None]:
        campaign = create_campaign(
            session=s, settings=ctx.settings, flow_id=flow, now=now, audience=audience,
            start_at=start_at, cutoff_at=cutoff_at, throttle_per_minute=throttle,
            reminders=reminders, reminder_after_hours=reminder_after,
            run_expiry_hours=expire_after, quota=quota, quota_per_area=quota_per_area,
            name=name, draft=draft, known_flows=runtime.catalog, participants=runtime)
        return campaign, _audience_now(s, campaign.audience)

    campaign, reach = _run(ctx, make)
    print(campaign.id)
    if reach == 0:
        err_console.print(f"warning: audience {campaign.audience} matches no resident who "
                          "agreed to surveys right now; the campaign takes its list when it "
                          "starts", highlight=False, markup=False, soft_wrap=True)


def _audience_now(session: Session, spec: str) -> int | None:
    """Residents the audience would reach if it started now (None for a CSV list)."""
    from sqlalchemy import func, select

    from engage.scheduling.audience import audience_filter, parse_audience
    from engage.storage.tables import Participant

    audience = parse_audience(spec)
    if audience.kind == "csv":
        return None
    return int(session.execute(select(func.count()).select_from(Participant)
                               .where(*audience_filter(audience))).scalar_one())


def _transition(action_name: str, campaign_id: int, url: str | None) -> None:
    from engage.clock import utcnow
    from engage.scheduling import campaigns

    action = {"start": campaigns.start_campaign, "pause": campaigns.pause_campaign,
              "cancel": campaigns.cancel_campaign}[action_name]
    ctx = open_context(url)
    campaign = _run(ctx, lambda s: action(session=s, campaign_id=campaign_id, now=utcnow()))
    console.print(f"campaign {campaign.id}: {campaign.status}", highlight=False, markup=False)


@campaign_app.command("start")
def start_command(campaign_id: int, url: UrlOption = None) -> None:
    """Start a draft or resume a paused campaign."""
    _transition("start", campaign_id, url)


@campaign_app.command("pause")
def pause_command(campaign_id: int, url: UrlOption = None) -> None:
    """Pause: nothing more is sent until it is started again."""
    _transition("pause", campaign_id, url)


@campaign_app.command("cancel")
def cancel_command(campaign_id: int, url: UrlOption = None) -> None:
    """Cancel for good; queued campaign messages are cancelled."""
    _transition("cancel", campaign_id, url)


@campaign_app.command("list")
def list_command(url: UrlOption = None,
                 as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every campaign with its status and audience."""
    from engage.scheduling.campaigns import list_campaigns

    ctx = open_context(url)
    items = _run(ctx, lambda s: [_summary(c) for c in list_campaigns(session=s)])
    if as_json:
        print(json.dumps(items, indent=2))
        return
    table = Table("id", "name", "flow", "status", "audience", "start (UTC)", "cutoff (UTC)")
    for item in items:
        table.add_row(str(item["id"]), item["name"], item["flow"], item["status"],
                      item["audience"], item["start_at"][:16], (item["cutoff_at"] or "")[:16])
    console.print(table)


def _summary(campaign: Campaign) -> dict[str, Any]:
    return {"id": campaign.id, "name": campaign.name, "flow": campaign.flow_id,
            "status": campaign.status, "audience": campaign.audience,
            "start_at": campaign.start_at.isoformat(),
            "cutoff_at": campaign.cutoff_at.isoformat() if campaign.cutoff_at else None,
            "throttle_per_minute": campaign.throttle_per_minute,
            "reminders": campaign.reminders, "quota": campaign.quota,
            "finish_reason": campaign.finish_reason}


def _progress_table(summary: dict[str, Any], progress: dict[str, Any]) -> Table:
    total = max(progress["total"], 1)
    table = Table(title=f"campaign {summary['id']} · {summary['name']} · {progress['status']}",
                  show_header=True)
    table.add_column("status")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    table.add_column("")
    for state in ("pending", *PROGRESS_STATES, "expired", "skipped"):
        count = progress[state]
        share = count / total
        table.add_row(state, str(count), f"{share:5.1%}", "█" * round(share * 30))
    table.add_row("reminders sent", str(progress["reminders_sent"]), "", "")
    table.add_row("messages sent", str(progress["messages_sent"]), "", "")
    table.add_row("messages queued", str(progress["messages_queued"]), "", "")
    return table


@campaign_app.command("show")
def show_command(
    campaign_id: int,
    follow: Annotated[bool, typer.Option("--follow", help="Live progress until it ends")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: UrlOption = None,
) -> None:
    """Settings and progress: invited, started, completed, declined, opted out."""
    from engage.scheduling.campaigns import campaign_progress, get_campaign

    ctx = open_context(url)

    def load() -> tuple[dict[str, Any], dict[str, Any]]:
        loaded: tuple[dict[str, Any], dict[str, Any]] = _run(ctx, lambda s: (
            _summary(get_campaign(session=s, campaign_id=campaign_id)),
            campaign_progress(session=s, campaign_id=campaign_id).to_dict()))
        return loaded

    summary, progress = load()
    if as_json:
        print(json.dumps({**summary, "progress": progress}, indent=2))
        return
    if not follow:
        console.print(_progress_table(summary, progress))
        return
    with Live(_progress_table(summary, progress), console=console, refresh_per_second=4) as live:
        try:
            while progress["status"] not in ("finished", "cancelled"):
                time.sleep(interval)
                summary, progress = load()
                live.update(_progress_table(summary, progress))
        except KeyboardInterrupt:
            pass
