"""The ``session_feedback`` survey, started for every attendee an hour after the end (within a
week; after that an unsent request is dropped)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from engage.scheduling.dialogue._outbox import dedupe_key
from engage.scheduling.starter import RunStarter
from engage.storage.tables import Participant
from engage.storage.tables.scheduling import FEEDBACK_FLOW, DialogueSession, SessionRsvp

FEEDBACK_DELAY = timedelta(hours=1)
FEEDBACK_WINDOW = timedelta(days=7)  # after this, an unsent feedback request is dropped


def send_feedback(session: Session, ds: DialogueSession, starter: RunStarter,
                  now: datetime) -> int:
    """Start the feedback survey for attendees not yet asked. Returns the surveys started."""
    if ds.status == "cancelled" or not (ds.ends_at + FEEDBACK_DELAY <= now
                                        < ds.ends_at + FEEDBACK_WINDOW):
        return 0
    assert ds.id is not None
    count = 0
    rows = session.exec(
        select(SessionRsvp, Participant)
        .join(Participant, col(Participant.id) == col(SessionRsvp.participant_id))
        .where(SessionRsvp.session_id == ds.id, col(SessionRsvp.checked_in_at).is_not(None),
               col(SessionRsvp.feedback_run_id).is_(None))
        .order_by(col(SessionRsvp.id))
    ).all()
    for rsvp, participant in rows:
        run = starter.start_run(
            session=session, participant=participant, flow_id=FEEDBACK_FLOW, kind="campaign",
            dedupe_key=dedupe_key(ds, rsvp.participant_id, "feedback"), now=now,
            context={"session_title": ds.title}, session_id=ds.id,
        )
        rsvp.feedback_run_id = run.id if run is not None else -1  # -1: could not be sent
        session.add(rsvp)
        count += run is not None
    return count
