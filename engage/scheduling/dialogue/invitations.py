"""Inviting an area's opted-in residents to a session: the ``dialogue_rsvp`` flow started for
each resident not yet invited, unless quiet hours or the send rate would deliver it after the
start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from engage.config import Settings
from engage.errors import UserError
from engage.scheduling.clock import aware, quiet_ends
from engage.scheduling.dialogue._audit import audit_session
from engage.scheduling.dialogue._queries import audience_query
from engage.scheduling.dialogue._texts import when_context
from engage.scheduling.dialogue.sessions import get_session
from engage.scheduling.starter import RunStarter
from engage.storage.tables import Outbox
from engage.storage.tables.scheduling import RSVP_FLOW, DialogueSession, SessionRsvp


def audience_size(*, session: Session, ds: DialogueSession) -> int:
    """Residents an invitation would reach now (opted in, in the area): 0 deserves a word."""
    found = audience_query(ds).subquery()
    return int(session.execute(select(func.count()).select_from(found)).scalar_one())


@dataclass(frozen=True)
class InviteReport:
    """What ``dialogue invite`` did: invitations queued, and those not sent because quiet
    hours or the send rate would have delivered them after the start."""

    queued: int = 0
    late_quiet: int = 0
    late_rate: int = 0
    quiet_until: datetime | None = None  # when the quiet hours holding them end

    @property
    def late(self) -> int:
        return self.late_quiet + self.late_rate


def invite(*, session: Session, starter: RunStarter, session_id: int, now: datetime,
           settings: Settings) -> int:
    """Send the ``dialogue_rsvp`` invitation to every opted-in resident of the area not yet
    invited (run it again later to reach newcomers). Returns invitations started."""
    return invite_report(session=session, starter=starter, session_id=session_id,
                         now=now, settings=settings).queued


def _send_rate(settings: Settings, channel: str) -> float:
    from engage.outbox import TELEGRAM_RATE

    return settings.sms_rate if channel == "sms" else TELEGRAM_RATE


def _backlog(session: Session, channel: str, now: datetime) -> int:
    """Messages already due on ``channel``: new invitations queue behind them."""
    return int(session.execute(select(func.count()).select_from(Outbox).where(
        Outbox.channel == channel, col(Outbox.status).in_(("pending", "claimed")),
        col(Outbox.not_before) <= now)).scalar_one())


def invite_report(*, session: Session, starter: RunStarter, session_id: int, now: datetime,
                  settings: Settings) -> InviteReport:
    """``invite``, saying how many invitations were left out because they could not arrive
    before the start: held by the resident's quiet hours until after it, or behind the send
    rate's queue. Those are not sent at all (an invitation to something already under way
    only confuses); each run of ``invite`` tries again."""
    now = aware(now)
    ds = get_session(session=session, session_id=session_id, lock=True)
    if ds.status != "scheduled":
        raise UserError(f"session {session_id} is {ds.status}; invitations are closed")
    if now >= ds.starts_at:
        raise UserError(f"session {session_id} has already started")
    assert ds.id is not None
    invited_ids = set(session.exec(
        select(SessionRsvp.participant_id).where(SessionRsvp.session_id == ds.id)
    ).all())
    context = {"session_title": ds.title, **when_context(ds), "session_place": ds.place}
    count = late_quiet = late_rate = 0
    quiet_until: datetime | None = None
    queue = {channel: _backlog(session, channel, now) for channel in ("sms", "telegram")}
    for participant in session.exec(audience_query(ds)).all():
        assert participant.id is not None
        if participant.id in invited_ids:
            continue
        tz = participant.timezone or settings.timezone
        sends_at = quiet_ends(now, tz, settings.quiet_window)
        if sends_at >= ds.starts_at:
            late_quiet += 1
            quiet_until = min(quiet_until or sends_at, sends_at)
            continue
        rate = _send_rate(settings, participant.channel)
        waiting = queue.get(participant.channel, 0)
        if rate > 0 and sends_at + timedelta(seconds=waiting / rate) >= ds.starts_at:
            late_rate += 1
            continue
        run = starter.start_run(
            session=session, participant=participant, flow_id=RSVP_FLOW, kind="invitation",
            dedupe_key=f"dialogue:{ds.id}:p:{participant.id}:invite", now=now,
            context=context, session_id=ds.id,
        )
        if run is None:
            continue
        session.add(SessionRsvp(session_id=ds.id, participant_id=participant.id,
                                status="invited", run_id=run.id, invited_at=now))
        queue[participant.channel] = queue.get(participant.channel, 0) + 1
        count += 1
    ds.invited_at = ds.invited_at or now
    session.add(ds)
    session.flush()
    audit_session(session, f"mediator:{ds.mediator}", "dialogue.invited", ds, now,
                  {"count": count, "late_quiet_hours": late_quiet, "late_send_rate": late_rate})
    return InviteReport(count, late_quiet, late_rate, quiet_until)
