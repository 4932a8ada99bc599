"""The dialogue tick: RSVPs, promotions, reminders, feedback and auto-close for every live
session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from engage.config import Settings
from engage.scheduling.clock import aware
from engage.scheduling.dialogue.feedback import FEEDBACK_WINDOW, send_feedback
from engage.scheduling.dialogue.late import drop_late
from engage.scheduling.dialogue.reminders import send_reminders
from engage.scheduling.dialogue.rsvp import sync_rsvps
from engage.scheduling.dialogue.sessions import close_session, get_session
from engage.scheduling.starter import RunStarter
from engage.storage.db import session_scope
from engage.storage.tables.scheduling import DialogueSession

AUTO_CLOSE_AFTER = timedelta(hours=24)  # contact details stay visible this long after the end


@dataclass
class DialogueTickReport:
    rsvp_changes: int = 0
    reminders: int = 0
    feedback: int = 0
    late: int = 0  # queued messages dropped because they could no longer arrive in time
    closed: list[int] = field(default_factory=list)


def run_dialogues(*, engine: Engine, starter: RunStarter, settings: Settings,
                  now: datetime) -> DialogueTickReport:
    """RSVPs, promotions, reminders, feedback and auto-close for every live session."""
    now = aware(now)
    report = DialogueTickReport()
    with session_scope(engine) as session:
        ids = list(session.exec(select(DialogueSession.id).where(
            or_(col(DialogueSession.status) == "scheduled",
                (col(DialogueSession.status) == "closed")
                & (col(DialogueSession.ends_at) >= now - FEEDBACK_WINDOW)))
            .order_by(col(DialogueSession.id))).all())
    for session_id in ids:
        assert session_id is not None
        with session_scope(engine) as session:
            ds = get_session(session=session, session_id=session_id, lock=True)
            if ds.status == "scheduled":
                report.late += drop_late(session=session, ds=ds, now=now)
                report.rsvp_changes += sync_rsvps(session=session, ds=ds, now=now,
                                                  settings=settings)
                report.reminders += send_reminders(session, ds, settings, now)
            report.feedback += send_feedback(session, ds, starter, now)
            if ds.status == "scheduled" and now >= ds.ends_at + AUTO_CLOSE_AFTER:
                close_session(session=session, session_id=session_id, now=now, actor="scheduler")
                report.closed.append(session_id)
    return report
