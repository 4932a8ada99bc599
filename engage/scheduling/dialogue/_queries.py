"""The reads several steps share: a session's audience, and its RSVPs with their residents."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from engage.storage.tables import Participant
from engage.storage.tables.scheduling import DialogueSession, SessionRsvp


def audience_query(ds: DialogueSession) -> SelectOfScalar[Participant]:
    """Residents an invitation reaches: opted into dialogue, reachable, in the area."""
    area = ds.area.lower()
    return select(Participant).where(
        col(Participant.consent_dialogue) == "granted",
        col(Participant.opted_out).is_(False),
        col(Participant.erased_at).is_(None),
        col(Participant.address_enc).is_not(None),
        or_(func.lower(Participant.area) == area, func.lower(Participant.district) == area),
    ).order_by(col(Participant.id))


def rsvps_with_participants(session: Session, ds: DialogueSession, statuses: tuple[str, ...],
                            *extra: ColumnElement[bool]
                            ) -> list[tuple[SessionRsvp, Participant]]:
    rows = session.exec(
        select(SessionRsvp, Participant)
        .join(Participant, col(Participant.id) == col(SessionRsvp.participant_id))
        .where(SessionRsvp.session_id == ds.id, col(SessionRsvp.status).in_(statuses), *extra)
        .order_by(col(SessionRsvp.id))
    ).all()
    return [(r, p) for r, p in rows]
