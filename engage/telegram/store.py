"""The Telegram service's database reads and writes, as typed functions returning records.

Every query the Telegram business logic needs is here, so the modules beside it read as
rules (a press is stale when..., a link joins when...) and the channel code holds no ORM at
all. Functions take the caller's ``Session``: the caller decides the transaction.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from engage.errors import RetryableError
from engage.privacy import normalize_address, participant_key
from engage.storage.tables import Message, Outbox, Participant, Run
from engage.storage.tables.scheduling import (
    Campaign,
    CampaignRecipient,
    DialogueSession,
    SessionRsvp,
)

CHANNEL = "telegram"


@dataclass(frozen=True)
class StoredResident:
    """A stored Telegram resident as the service may see them: no address, no messages."""

    participant_id: int
    key: str
    language: str
    opted_out: bool
    erased: bool


@dataclass(frozen=True)
class KeyboardOrigin:
    """The outbox message that drew a keyboard: whom it went to, for which run, and when
    (``created_at`` as the database returned it: compare it in SQL unchanged)."""

    participant_id: int | None
    run_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class OpenQuestion:
    """A resident's run as the stale-press rule needs it."""

    run_id: int
    waiting: bool
    asked_at: datetime | None


@dataclass(frozen=True)
class CampaignTarget:
    campaign_id: int
    flow_id: str
    status: str
    cutoff_at: datetime | None


@contextlib.contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A read-only session; a database that is down or locked is a ``RetryableError`` (the
    webhook answers 503 and Telegram redelivers; polling tries again), as in the runtime."""
    try:
        with Session(engine) as session:
            yield session
    except OperationalError as exc:
        raise RetryableError(f"database unavailable: {type(exc.orig).__name__}") from exc


def chat_key(secret: bytes, chat_id: str) -> str:
    """The participant key of a Telegram chat id."""
    return participant_key(secret, CHANNEL, normalize_address(CHANNEL, chat_id))


def resident_by_chat(session: Session, secret: bytes, chat_id: str) -> StoredResident | None:
    """The stored resident behind a chat id, or None for a chat engage never stored."""
    participant = session.exec(
        select(Participant).where(
            Participant.channel == CHANNEL, Participant.key == chat_key(secret, chat_id)
        )
    ).first()
    if participant is None or participant.id is None:
        return None
    return StoredResident(
        participant_id=participant.id,
        key=participant.key,
        language=participant.language,
        opted_out=participant.opted_out,
        erased=participant.erased_at is not None,
    )


def set_language(session: Session, participant: Participant, language: str) -> None:
    """Speak ``language`` to a resident; flushed at once, since ``start_run`` re-reads the
    row (locked) on PostgreSQL."""
    participant.language = language
    session.add(participant)
    session.flush()


def keyboard_origin(session: Session, outbox_id: int) -> KeyboardOrigin | None:
    row = session.get(Outbox, outbox_id)
    if row is None:
        return None
    return KeyboardOrigin(
        participant_id=row.participant_id, run_id=row.run_id, created_at=row.created_at
    )


def open_question(session: Session, run_id: int) -> OpenQuestion | None:
    run = session.get(Run, run_id)
    if run is None:
        return None
    asked = json.loads(run.state).get("asked_at")
    return OpenQuestion(
        run_id=run_id,
        waiting=run.status == "waiting",
        asked_at=datetime.fromisoformat(asked) if asked else None,
    )


def replied_since(session: Session, participant_id: int, run_id: int, since: datetime) -> bool:
    """Whether the resident sent anything to this run after ``since``."""
    later = session.exec(
        select(Message.id)
        .where(
            Message.participant_id == participant_id,
            Message.direction == "in",
            col(Message.run_id) == run_id,
            col(Message.created_at) > since,
        )
        .limit(1)
    ).first()
    return later is not None


def campaign_target(session: Session, campaign_id: int) -> CampaignTarget | None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.id is None:
        return None
    return CampaignTarget(
        campaign_id=campaign.id,
        flow_id=campaign.flow_id,
        status=campaign.status,
        cutoff_at=campaign.cutoff_at,
    )


def dialogue_session(session: Session, session_id: int) -> DialogueSession | None:
    """The dialogue session (its title, time and place fill the RSVP flow's context)."""
    return session.get(DialogueSession, session_id)


def count_campaign_joiner(
    session: Session,
    *,
    campaign_id: int,
    participant_id: int,
    run_id: int,
    messages: int,
    timezone: str,
    now: datetime,
) -> None:
    """Count a resident who joined by link as invited, where campaign progress is counted."""
    recipient = session.exec(
        select(CampaignRecipient).where(
            CampaignRecipient.campaign_id == campaign_id,
            CampaignRecipient.participant_id == participant_id,
        )
    ).first()
    if recipient is None:
        recipient = CampaignRecipient(
            campaign_id=campaign_id, participant_id=participant_id, timezone=timezone
        )
    recipient.status = "invited"
    recipient.run_id = run_id
    recipient.invited_at = now
    recipient.invite_messages = messages
    session.add(recipient)


def count_session_joiner(
    session: Session, *, session_id: int, participant_id: int, run_id: int, now: datetime
) -> None:
    """Count a resident who joined by link as invited to the session (once)."""
    rsvp = session.exec(
        select(SessionRsvp).where(
            SessionRsvp.session_id == session_id,
            SessionRsvp.participant_id == participant_id,
        )
    ).first()
    if rsvp is None:
        session.add(
            SessionRsvp(
                session_id=session_id,
                participant_id=participant_id,
                status="invited",
                run_id=run_id,
                invited_at=now,
            )
        )
