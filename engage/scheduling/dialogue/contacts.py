"""The mediator's view of who is coming: contact details for the session's own mediator only,
while it is open, every look audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from engage.errors import UserError
from engage.scheduling.clock import aware
from engage.scheduling.dialogue._audit import audit_session
from engage.scheduling.dialogue._queries import rsvps_with_participants
from engage.scheduling.dialogue.rsvp import SEATED
from engage.scheduling.dialogue.sessions import get_session


@dataclass(frozen=True)
class Contact:
    participant_key: str
    channel: str
    address: str
    language: str
    needs: str | None
    checked_in: bool


def mediator_contacts(*, session: Session, session_id: int, mediator: str, now: datetime,
                      secret: bytes) -> list[Contact]:
    """Contact details of the people who said yes, for the session's own mediator only, and
    only while the session is open. Every look is audited (count only, no addresses)."""
    from engage.privacy import decrypt_address

    now = aware(now)
    ds = get_session(session=session, session_id=session_id)
    if ds.mediator != mediator:
        raise UserError(f"only the session's mediator can see its contacts (session {session_id})")
    if ds.status != "scheduled":
        raise UserError(f"session {session_id} is {ds.status}; contact details are no longer "
                        "available")
    contacts = []
    for rsvp, participant in rsvps_with_participants(session, ds, SEATED):
        if participant.address_enc is None:
            continue
        contacts.append(Contact(participant.key, participant.channel,
                                decrypt_address(secret, participant.address_enc),
                                participant.language, rsvp.needs, rsvp.checked_in_at is not None))
    audit_session(session, f"mediator:{mediator}", "dialogue.contacts_viewed", ds, now,
                  {"count": len(contacts)})
    return contacts
