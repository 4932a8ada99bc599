"""``engage dialogue create|list|show|invite|checkin|close|cancel``: mediators' sessions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.table import Table

from engage.commands.campaign import _run, parse_when
from engage.commands.common import console, err_console
from engage.commands.scheduler import fail, open_context
from engage.errors import UserError

if TYPE_CHECKING:
    from sqlmodel import Session

    from engage.runtime import Runtime
    from engage.scheduling.dialogue import InviteReport
    from engage.storage.tables.scheduling import DialogueSession

dialogue_app = typer.Typer(help="Dialogue sessions: invitations, RSVPs, check-in, feedback.",
                           no_args_is_help=True)
UrlOption = Annotated[str | None, typer.Option("--url", help="Database URL "
                                               "(default: ENGAGE_DATABASE_URL).")]


# what each RSVP count means to a mediator ("invited" alone read as "nobody was invited")
COUNT_LABELS = {
    "invited": "awaiting reply", "yes": "coming", "no": "not coming", "maybe": "maybe",
    "waitlisted": "on the waitlist", "opted_out": "opted out", "walk_in": "walk-ins",
    "late": "invitation too late to send", "attended": "checked in",
    "feedback_sent": "feedback survey sent", "feedback_completed": "feedback answered",
}


def register(app: typer.Typer) -> None:
    app.add_typer(dialogue_app, name="dialogue")


def _summary(ds: DialogueSession) -> dict[str, Any]:
    from engage.scheduling.dialogue import format_when

    return {"id": ds.id, "title": ds.title, "area": ds.area, "place": ds.place,
            "starts_at": ds.starts_at.isoformat(), "ends_at": ds.ends_at.isoformat(),
            "when": format_when(ds), "timezone": ds.timezone, "capacity": ds.capacity,
            "mediator": ds.mediator, "status": ds.status, "checkin_code": ds.checkin_code}


@dialogue_app.command("create")
def create(
    title: Annotated[str, typer.Option(help="Session title")],
    area: Annotated[str, typer.Option(help="Neighbourhood or district invited")],
    place: Annotated[str, typer.Option(help="Where it happens")],
    start: Annotated[str, typer.Option(help="ISO-8601 (no offset = ENGAGE_TIMEZONE)")],
    end: Annotated[str, typer.Option(help="ISO-8601")],
    capacity: Annotated[int, typer.Option(help="Seats", min=1)],
    mediator: Annotated[str, typer.Option(help="The mediator's id")],
    description: Annotated[str, typer.Option(help="What it is about")] = "",
    timezone: Annotated[str | None, typer.Option(help="IANA zone (default ENGAGE_TIMEZONE)")
                        ] = None,
    url: UrlOption = None,
) -> None:
    """Create a session; prints its id alone on stdout."""
    from engage.clock import utcnow
    from engage.scheduling.dialogue import audience_size, create_session, format_when

    ctx = open_context(url)
    tz = timezone or ctx.settings.timezone
    now = utcnow()
    try:
        starts_at = parse_when(start, tz, now=now)
        ends_at = parse_when(end, tz, now=now)
    except UserError as exc:
        fail(str(exc))
    assert starts_at is not None and ends_at is not None

    def make(s: Session) -> tuple[DialogueSession, int]:
        ds = create_session(
            session=s, settings=ctx.settings, title=title, area=area, place=place,
            starts_at=starts_at, ends_at=ends_at, capacity=capacity, mediator=mediator,
            now=now, description=description, timezone=tz)
        return ds, audience_size(session=s, ds=ds)

    ds, reach = _run(ctx, make)
    print(ds.id)
    # the times this shell read: the server must read the same settings (.env, see README)
    err_console.print(f"starts {format_when(ds)} {ds.timezone} (ENGAGE_TIMEZONE); quiet hours "
                      f"{ctx.settings.quiet_hours} (ENGAGE_QUIET_HOURS)", highlight=False,
                      markup=False, soft_wrap=True)
    if reach == 0:
        err_console.print(f"warning: no resident of {ds.area} has agreed to dialogue "
                          "invitations yet, so `dialogue invite` would reach nobody",
                          highlight=False, markup=False, soft_wrap=True)


@dialogue_app.command("list")
def list_command(
    mediator: Annotated[str | None, typer.Option(help="Only this mediator's sessions")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: UrlOption = None,
) -> None:
    """Sessions, soonest first."""
    from engage.scheduling.dialogue import list_sessions

    ctx = open_context(url)
    items = _run(ctx, lambda s: [_summary(d) for d in list_sessions(session=s,
                                                                     mediator=mediator)])
    if as_json:
        print(json.dumps(items, indent=2))
        return
    table = Table("id", "title", "area", "when", "capacity", "mediator", "status")
    for item in items:
        table.add_row(str(item["id"]), item["title"], item["area"], item["when"],
                      str(item["capacity"]), item["mediator"], item["status"])
    console.print(table)


@dialogue_app.command("show")
def show_command(
    session_id: int,
    contacts: Annotated[bool, typer.Option(help="Contact details of people who said yes")
                        ] = False,
    as_mediator: Annotated[str | None, typer.Option("--as", help="Your mediator id "
                                                    "(required with --contacts)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: UrlOption = None,
) -> None:
    """Details, RSVP, attendance and feedback counts; ``--contacts --as ME`` for the
    session's own mediator while it is open."""
    from engage.clock import utcnow
    from engage.scheduling.dialogue import get_session, mediator_contacts, session_stats

    ctx = open_context(url)
    if contacts and not as_mediator:
        fail("--contacts needs --as MEDIATOR")

    def load(s: Session) -> dict[str, Any]:
        data = {**_summary(get_session(session=s, session_id=session_id)),
                "counts": session_stats(session=s, session_id=session_id).to_dict()}
        if contacts:
            data["contacts"] = [
                {"key": c.participant_key[:12], "channel": c.channel, "address": c.address,
                 "language": c.language, "needs": c.needs, "checked_in": c.checked_in}
                for c in mediator_contacts(session=s, session_id=session_id,
                                           mediator=as_mediator or "", now=utcnow(),
                                           secret=ctx.settings.secret_bytes())]
        return data

    data = _run(ctx, load)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    table = Table(title=f"session {data['id']} · {data['title']} · {data['status']}",
                  show_header=False)
    for key in ("area", "place", "when", "capacity", "mediator", "checkin_code"):
        table.add_row(key, str(data[key]))
    for key, value in data["counts"].items():
        table.add_row(COUNT_LABELS.get(key, key), str(value))
    console.print(table)
    if contacts:
        people = Table("key", "channel", "address", "language", "needs", "checked in")
        for c in data["contacts"]:
            people.add_row(c["key"], c["channel"], c["address"], c["language"], c["needs"] or "",
                           "yes" if c["checked_in"] else "")
        console.print(people)


@dialogue_app.command("invite")
def invite_command(session_id: int, url: UrlOption = None) -> None:
    """Invite every opted-in resident of the area not invited yet (both channels)."""
    from engage.clock import utcnow
    from engage.scheduling.dialogue import invite_report

    ctx = open_context(url)
    runtime = cast("Runtime", ctx.runtime)
    report = _run(ctx, lambda s: invite_report(session=s, starter=runtime,
                                               session_id=session_id, now=utcnow(),
                                               settings=ctx.settings))
    console.print(f"session {session_id}: {report.queued} invitations queued",
                  highlight=False, markup=False)
    if report.late:
        err_console.print(f"warning: {late_warning(report, ctx.settings.timezone)}",
                          highlight=False, markup=False)


def late_warning(report: InviteReport, timezone: str) -> str:
    """Why some residents were not invited, in the mediator's words."""
    from engage.scheduling.clock import zone

    reasons = []
    if report.late_quiet:
        assert report.quiet_until is not None  # set with every invitation held by quiet hours
        until = report.quiet_until.astimezone(zone(timezone))
        reasons.append(f"{report.late_quiet} are in quiet hours until "
                       f"{until:%H:%M} ({timezone}), after the start")
    if report.late_rate:
        reasons.append(f"{report.late_rate} would wait behind the send rate "
                       "(ENGAGE_SMS_RATE) past the start")
    return (f"{report.late} invitations would arrive after the session starts and were not "
            f"sent: {'; '.join(reasons)}")


@dialogue_app.command("checkin")
def checkin_command(
    session_id: int,
    number: Annotated[str | None, typer.Option(
        help="Check in by phone number a resident who has texted engage")
                      ] = None,
    url: UrlOption = None,
) -> None:
    """Show the check-in code residents text at the session, or check someone in by hand."""
    from engage.clock import utcnow
    from engage.scheduling.dialogue import check_in_number, get_session, session_stats

    ctx = open_context(url)

    def act(s: Session) -> tuple[str, int, bool | None]:
        ds = get_session(session=s, session_id=session_id)
        first = None
        if number:
            first = check_in_number(session=s, ds=ds, address=number, now=utcnow(),
                                    secret=ctx.settings.secret_bytes())
        return ds.checkin_code, session_stats(session=s, session_id=session_id).attended, first

    code, attended, first = _run(ctx, act)
    if first is not None:
        console.print("checked in" if first else "already checked in", highlight=False,
                      markup=False)
    console.print(f"session {session_id}: check-in code {code}, {attended} checked in",
                  highlight=False, markup=False)


@dialogue_app.command("close")
def close_command(session_id: int, url: UrlOption = None) -> None:
    """Close the session: contact details are no longer visible; feedback still goes out."""
    _transition("close", session_id, url)


@dialogue_app.command("cancel")
def cancel_command(session_id: int, url: UrlOption = None) -> None:
    """Cancel: no reminders or feedback; people who planned to come are told."""
    _transition("cancel", session_id, url)


def _transition(action_name: str, session_id: int, url: str | None) -> None:
    from engage.clock import utcnow
    from engage.scheduling import dialogue

    ctx = open_context(url)

    def act(s: Session) -> DialogueSession:
        if action_name == "cancel":  # people who planned to come are told (quiet hours)
            return dialogue.cancel_session(session=s, session_id=session_id, now=utcnow(),
                                           settings=ctx.settings, actor="cli")
        return dialogue.close_session(session=s, session_id=session_id, now=utcnow(),
                                      actor="cli")

    ds = _run(ctx, act)
    console.print(f"session {ds.id}: {ds.status}", highlight=False, markup=False)
