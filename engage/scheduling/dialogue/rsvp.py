"""RSVPs, seats and the waitlist: a "yes" takes a seat while there is one, later ones wait in
answer order, and a seat given up goes to the next person waiting."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from engage.config import Settings
from engage.errors import UserError
from engage.scheduling.clock import aware
from engage.scheduling.dialogue._outbox import dedupe_key
from engage.scheduling.dialogue._runs import run_results
from engage.scheduling.dialogue._texts import session_text
from engage.scheduling.dialogue.sessions import get_session
from engage.storage import repo
from engage.storage.tables import Participant, Run
from engage.storage.tables.scheduling import DialogueSession, SessionRsvp

SEATED = ("yes",)


def seats_taken(session: Session, session_id: int) -> int:
    return int(session.execute(
        select(func.count()).select_from(SessionRsvp).where(
            SessionRsvp.session_id == session_id, col(SessionRsvp.status).in_(SEATED))
    ).scalar_one())


def record_rsvp(*, session: Session, session_id: int, participant_id: int, answer: str,
                now: datetime, settings: Settings, notify: bool = True) -> SessionRsvp:
    """Apply a yes/no/maybe (from the flow, or entered by the mediator): "yes" takes a seat or
    a waitlist place; giving up a seat promotes the next person on the waitlist. ``notify``:
    text a waitlisted resident (False when the flow's own reply already told them)."""
    now = aware(now)
    if answer not in ("yes", "no", "maybe"):
        raise UserError(f"RSVP must be yes, no or maybe, not {answer!r}")
    ds = get_session(session=session, session_id=session_id, lock=True)
    rsvp = session.exec(select(SessionRsvp).where(
        SessionRsvp.session_id == session_id, SessionRsvp.participant_id == participant_id)
    ).first()
    if rsvp is None:
        raise UserError(f"participant {participant_id} was not invited to session {session_id}")
    _apply(session, ds, rsvp, answer, now, notify=notify)
    promote(session=session, ds=ds, now=now, settings=settings)
    return rsvp


def rsvp_seat(*, session: Session, session_id: int, participant_id: int) -> str:
    """What a "yes" from this resident gets right now: "seat" or "waitlist" (their current
    place when they already have one). Locks the session row (PostgreSQL), so the answer
    recorded later in the same transaction gets exactly this."""
    ds = get_session(session=session, session_id=session_id, lock=True)
    assert ds.id is not None
    status = session.exec(select(SessionRsvp.status).where(
        SessionRsvp.session_id == ds.id, SessionRsvp.participant_id == participant_id)).first()
    if status in SEATED:
        return "seat"
    if status == "waitlisted":
        return "waitlist"
    return "seat" if seats_taken(session, ds.id) < ds.capacity else "waitlist"


def rsvp_from_flow(*, session: Session, session_id: int, participant_id: int, answer: str,
                   now: datetime, settings: Settings) -> None:
    """The runtime's hook: an invitation run recorded ``rsvp``; apply it in the same
    transaction as the reply that tells the resident, so the first reply is the truth."""
    if answer not in ("yes", "no", "maybe"):
        return
    rsvp = session.exec(select(SessionRsvp).where(
        SessionRsvp.session_id == session_id, SessionRsvp.participant_id == participant_id)
    ).first()
    if rsvp is None or rsvp.status in ("opted_out", "late"):
        return
    record_rsvp(session=session, session_id=session_id, participant_id=participant_id,
                answer=answer, now=now, settings=settings, notify=False)


def _apply(session: Session, ds: DialogueSession, rsvp: SessionRsvp, answer: str,
           now: datetime, *, notify: bool = True) -> None:
    assert ds.id is not None
    if rsvp.status == answer or (answer == "yes" and rsvp.status == "waitlisted"):
        return
    if rsvp.status == "opted_out":
        return
    rsvp.responded_at = now
    if answer == "yes":
        session.flush()
        if seats_taken(session, ds.id) < ds.capacity:
            rsvp.status = "yes"
        else:
            rsvp.status = "waitlisted"
            participant = session.get(Participant, rsvp.participant_id)
            if participant is not None and notify:
                repo.enqueue_outbox(
                    session=session, participant=participant, channel=participant.channel,
                    body=session_text("waitlisted", participant.language, ds),
                    kind="reply", dedupe_key=dedupe_key(ds, rsvp.participant_id, "waitlisted"),
                    now=now,
                )
    else:
        rsvp.status = answer
    session.add(rsvp)
    session.flush()


def promote(*, session: Session, ds: DialogueSession, now: datetime,
            settings: Settings) -> list[SessionRsvp]:
    """Fill free seats from the waitlist in answer order (before the start only); the
    promoted are told, held by the quiet hours in ``settings``."""
    assert ds.id is not None
    promoted: list[SessionRsvp] = []
    if ds.status != "scheduled" or now >= ds.starts_at:
        return promoted
    session.flush()
    free = ds.capacity - seats_taken(session, ds.id)
    if free <= 0:
        return promoted
    waiting = session.exec(
        select(SessionRsvp).where(SessionRsvp.session_id == ds.id,
                                  SessionRsvp.status == "waitlisted")
        .order_by(col(SessionRsvp.responded_at), col(SessionRsvp.id)).limit(free)
    ).all()
    for rsvp in waiting:
        rsvp.status = "yes"
        rsvp.promoted_at = now
        session.add(rsvp)
        promoted.append(rsvp)
        participant = session.get(Participant, rsvp.participant_id)
        if participant is not None:
            repo.enqueue_outbox(
                session=session, participant=participant, channel=participant.channel,
                body=session_text("promoted", participant.language, ds),
                kind="invitation", dedupe_key=dedupe_key(ds, rsvp.participant_id, "promoted"),
                now=now, quiet_window=settings.quiet_window, timezone=settings.timezone,
            )
    session.flush()
    return promoted


def sync_rsvps(*, session: Session, ds: DialogueSession, now: datetime,
               settings: Settings) -> int:
    """Read answers from the invitation runs and opt-outs from participants. Returns changes."""
    assert ds.id is not None
    changes = 0
    rows = session.exec(
        select(SessionRsvp, Run, Participant)
        .join(Run, col(Run.id) == col(SessionRsvp.run_id))
        .join(Participant, col(Participant.id) == col(SessionRsvp.participant_id))
        .where(SessionRsvp.session_id == ds.id,
               col(SessionRsvp.status).in_(("invited", "yes", "maybe", "waitlisted")))
        .order_by(col(Run.updated_at), col(SessionRsvp.id))
    ).all()
    for rsvp, run, participant in rows:
        if participant.opted_out or participant.erased_at is not None:
            rsvp.status = "opted_out"
            session.add(rsvp)
            changes += 1
            continue
        results = run_results(run)
        needs = results.get("needs")
        if needs and rsvp.needs != needs:
            rsvp.needs = str(needs)[:120]
            session.add(rsvp)
        answer = results.get("rsvp")
        if rsvp.status == "invited" and answer in ("yes", "no", "maybe"):
            _apply(session, ds, rsvp, str(answer), now)
            changes += 1
    promote(session=session, ds=ds, now=now, settings=settings)
    return changes
