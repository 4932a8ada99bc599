"""A session's figures: RSVPs by status, attendance, feedback sent and completed."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from engage.scheduling.dialogue.sessions import get_session
from engage.storage.tables import Run
from engage.storage.tables.scheduling import SessionRsvp


@dataclass(frozen=True)
class SessionStats:
    counts: dict[str, int] = field(default_factory=dict)
    attended: int = 0
    feedback_sent: int = 0
    feedback_completed: int = 0

    def to_dict(self) -> dict[str, int]:
        return {**{k: self.counts.get(k, 0) for k in ("invited", "yes", "no", "maybe",
                                                      "waitlisted", "opted_out", "walk_in",
                                                      "late")},
                "attended": self.attended, "feedback_sent": self.feedback_sent,
                "feedback_completed": self.feedback_completed}


def session_stats(*, session: Session, session_id: int) -> SessionStats:
    get_session(session=session, session_id=session_id)
    counts = {str(s): int(n) for s, n in session.execute(
        select(SessionRsvp.status, func.count()).where(SessionRsvp.session_id == session_id)
        .group_by(SessionRsvp.status)).all()}
    attended = session.execute(select(func.count()).select_from(SessionRsvp).where(
        SessionRsvp.session_id == session_id, col(SessionRsvp.checked_in_at).is_not(None))
    ).scalar_one()
    sent = session.execute(select(func.count()).select_from(SessionRsvp).where(
        SessionRsvp.session_id == session_id, col(SessionRsvp.feedback_run_id) > 0)
    ).scalar_one()  # -1: it could not be sent (no consent, opted out)
    completed = session.execute(select(func.count()).select_from(SessionRsvp).join(
        Run, col(Run.id) == col(SessionRsvp.feedback_run_id)).where(
        SessionRsvp.session_id == session_id, Run.status == "completed")).scalar_one()
    return SessionStats(counts, int(attended), int(sent), int(completed))
