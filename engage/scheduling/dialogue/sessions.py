"""A dialogue session's own life: created (checked, with a fresh check-in code), read, listed,
cancelled (residents who planned to come are told) and closed."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from engage.config import Settings
from engage.errors import UserError
from engage.scheduling.clock import aware, zone_name_ok
from engage.scheduling.dialogue._audit import audit_session
from engage.scheduling.dialogue._outbox import dedupe_key, drop_queued
from engage.scheduling.dialogue._queries import rsvps_with_participants
from engage.scheduling.dialogue._runs import end_invitation_runs
from engage.scheduling.dialogue._texts import session_text
from engage.scheduling.dialogue.checkin import new_checkin_code
from engage.scheduling.places import known_place
from engage.storage import repo
from engage.storage.tables.scheduling import DialogueSession


def create_session(*, session: Session, settings: Settings, title: str, area: str, place: str,
                   starts_at: datetime, ends_at: datetime, capacity: int, mediator: str,
                   now: datetime, description: str = "", timezone: str | None = None
                   ) -> DialogueSession:
    """Validate and store a session with a fresh check-in code."""
    now, starts_at, ends_at = aware(now), aware(starts_at), aware(ends_at)
    problems = []
    if not title.strip():
        problems.append("a title is required")
    if not area.strip():
        problems.append("an area is required")
    if not mediator.strip():
        problems.append("a mediator is required")
    if ends_at <= starts_at:
        problems.append("the end must be after the start")
    if starts_at <= now:
        problems.append("the start must be in the future")
    if capacity < 1:
        problems.append("capacity must be at least 1")
    tz = timezone or settings.timezone
    if not zone_name_ok(tz):
        problems.append(f"unknown time zone {tz!r}")
    if area.strip():
        try:
            area = known_place(settings, area)
        except UserError as exc:
            problems.append(str(exc))
    if problems:
        raise UserError("; ".join(problems))
    open_codes = set(session.exec(
        select(DialogueSession.checkin_code).where(DialogueSession.status == "scheduled")
    ).all())
    code = new_checkin_code()
    while code in open_codes:
        code = new_checkin_code()
    ds = DialogueSession(title=title.strip(), description=description, area=area.strip(),
                         place=place.strip(), starts_at=starts_at, ends_at=ends_at, timezone=tz,
                         capacity=capacity, mediator=mediator.strip(), checkin_code=code,
                         created_at=now)
    session.add(ds)
    session.flush()
    audit_session(session, f"mediator:{ds.mediator}", "dialogue.created", ds, now,
                  {"area": ds.area})
    return ds


def get_session(*, session: Session, session_id: int, lock: bool = False) -> DialogueSession:
    stmt = select(DialogueSession).where(DialogueSession.id == session_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    ds = session.exec(stmt).first()
    if ds is None:
        raise UserError(f"no dialogue session with id {session_id}")
    return ds


def list_sessions(*, session: Session, mediator: str | None = None,
                  include_closed: bool = True) -> list[DialogueSession]:
    stmt = select(DialogueSession).order_by(col(DialogueSession.starts_at))
    if mediator:
        stmt = stmt.where(DialogueSession.mediator == mediator)
    if not include_closed:
        stmt = stmt.where(DialogueSession.status == "scheduled")
    return list(session.exec(stmt).all())


def cancel_session(*, session: Session, session_id: int, now: datetime,
                   settings: Settings, actor: str = "mediator") -> DialogueSession:
    """Cancel: queued invitations and reminders are dropped, people who planned to come are
    told (held by the quiet hours in ``settings``), and no reminder
    or feedback will ever go out for it."""
    now = aware(now)
    ds = get_session(session=session, session_id=session_id, lock=True)
    if ds.status == "cancelled":
        return ds
    if ds.status == "closed":
        raise UserError(f"session {session_id} is already closed")
    ds.status = "cancelled"
    ds.cancelled_at = now
    session.add(ds)
    drop_queued(session, ds, "%")
    end_invitation_runs(session, ds, now)
    if now < ds.starts_at:
        for rsvp, participant in rsvps_with_participants(session, ds, ("yes", "maybe",
                                                                        "waitlisted")):
            repo.enqueue_outbox(
                session=session, participant=participant, channel=participant.channel,
                body=session_text("cancelled", participant.language, ds),
                kind="invitation", dedupe_key=dedupe_key(ds, rsvp.participant_id, "cancelled"),
                now=now, quiet_window=settings.quiet_window, timezone=settings.timezone,
            )
    audit_session(session, actor, "dialogue.cancelled", ds, now, {})
    return ds


def close_session(*, session: Session, session_id: int, now: datetime,
                  actor: str = "mediator") -> DialogueSession:
    """Close: the mediator can no longer see contact details; feedback still goes out."""
    now = aware(now)
    ds = get_session(session=session, session_id=session_id, lock=True)
    if ds.status == "closed":
        return ds
    if ds.status == "cancelled":
        raise UserError(f"session {session_id} was cancelled")
    ds.status = "closed"
    ds.closed_at = now
    session.add(ds)
    drop_queued(session, ds, "invite")
    end_invitation_runs(session, ds, now)
    audit_session(session, actor, "dialogue.closed", ds, now, {})
    return ds
