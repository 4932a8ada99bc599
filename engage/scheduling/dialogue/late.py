"""Messages for a session that can no longer arrive before its start: cancelled with the
reason, and the invitations that never reached their resident ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, exists, or_, true, update
from sqlmodel import Session, col, select

from engage.scheduling.dialogue._audit import audit_session
from engage.scheduling.dialogue._runs import end_invitation_runs
from engage.storage import repo
from engage.storage.tables import Outbox, Run
from engage.storage.tables.scheduling import DialogueSession, SessionRsvp

LATE_REASON = "too late: would arrive after the session starts"


def drop_late(*, session: Session, ds: DialogueSession, now: datetime) -> int:
    """Invitations, RSVP prompts (the flow's own reminders), promotions and reminders that
    can no longer arrive before the start are cancelled with the reason recorded; an
    invitation that never reached its resident ends, and their RSVP is marked ``late``, so a
    later text from them is not read as an answer to a question they never saw. Returns the
    messages dropped."""
    assert ds.id is not None
    rsvp_runs = select(SessionRsvp.run_id).where(SessionRsvp.session_id == ds.id,
                                                 col(SessionRsvp.run_id).is_not(None))
    due = (col(Outbox.not_before) >= ds.starts_at) if now < ds.starts_at else true()
    dropped = cast(CursorResult[Any], session.execute(
        update(Outbox)
        .where(col(Outbox.status) == "pending", due,
               col(Outbox.kind).in_(("invitation", "reminder")),
               or_(col(Outbox.run_id).in_(rsvp_runs),
                   col(Outbox.dedupe_key).like(f"dialogue:{ds.id}:p:%")))
        .values(status="cancelled", error=LATE_REASON)
        .execution_options(synchronize_session=False)
    )).rowcount or 0
    if not dropped and now < ds.starts_at:
        return 0
    # reached: something of the run was sent; pending: something may still be
    live = exists().where(col(Outbox.run_id) == col(Run.id),
                          col(Outbox.status).not_in(("cancelled", "failed")))
    unreached = session.exec(
        select(SessionRsvp, Run).join(Run, col(Run.id) == col(SessionRsvp.run_id))
        .where(SessionRsvp.session_id == ds.id, SessionRsvp.status == "invited", ~live)
    ).all()
    for rsvp, run in unreached:
        rsvp.status = "late"
        session.add(rsvp)
        if run.status == repo.ACTIVE_RUN:
            repo.end_run(run=run, status="expired", now=now)
            session.add(run)
    if now >= ds.starts_at:  # nobody answers an invitation to a session under way
        end_invitation_runs(session, ds, now)
    session.flush()
    if dropped:
        audit_session(session, "scheduler", "dialogue.late_dropped", ds, now, {"count": dropped})
    return int(dropped)
