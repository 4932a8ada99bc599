"""Session reminders, 24 h and 2 h before the start, to residents coming or maybe coming: outside
their quiet hours, and never at or after the start."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col

from engage.config import Settings
from engage.scheduling.clock import is_quiet, session_reminder_slot
from engage.scheduling.dialogue._outbox import dedupe_key, drop_queued
from engage.scheduling.dialogue._queries import rsvps_with_participants
from engage.scheduling.dialogue._texts import session_text
from engage.storage import repo
from engage.storage.tables.scheduling import DialogueSession, SessionRsvp

REMINDED = ("yes", "maybe")


def send_reminders(session: Session, ds: DialogueSession, settings: Settings,
                   now: datetime) -> int:
    """Queue the reminder due now (24 h or 2 h slot) for everyone coming or maybe coming.
    Returns the reminders queued."""
    if now >= ds.starts_at:
        drop_queued(session, ds, "reminder:%")  # never deliver a reminder after the start
        return 0
    slot = session_reminder_slot(starts_at=ds.starts_at, now=now)
    if slot is None:
        return 0
    column = SessionRsvp.reminder_24h_at if slot == "24h" else SessionRsvp.reminder_2h_at
    sent = 0
    for rsvp, participant in rsvps_with_participants(session, ds, REMINDED,
                                                     col(column).is_(None)):
        if is_quiet(now, participant.timezone or settings.timezone, settings.quiet_window):
            continue  # a later tick sends it once the resident's night is over, if still due
        row = repo.enqueue_outbox(
            session=session, participant=participant, channel=participant.channel,
            body=session_text("reminder", participant.language, ds), kind="reminder",
            dedupe_key=dedupe_key(ds, rsvp.participant_id, f"reminder:{slot}"), now=now,
            run_id=rsvp.run_id, quiet_window=settings.quiet_window, timezone=settings.timezone,
        )
        setattr(rsvp, "reminder_24h_at" if slot == "24h" else "reminder_2h_at", now)
        session.add(rsvp)
        sent += row is not None
    return sent
