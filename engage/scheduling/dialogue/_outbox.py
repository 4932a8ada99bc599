"""A session's outbox rows: their dedupe keys, and cancelling the ones not yet sent."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col

from engage.storage.tables import Outbox
from engage.storage.tables.scheduling import DialogueSession


def dedupe_key(ds: DialogueSession, participant_id: int, what: str) -> str:
    return f"dialogue:{ds.id}:p:{participant_id}:{what}"


def drop_queued(session: Session, ds: DialogueSession, what: str) -> None:
    """Cancel unsent invitation/reminder rows for this session (``what`` is a LIKE tail)."""
    session.execute(
        update(Outbox)
        .where(col(Outbox.dedupe_key).like(f"dialogue:{ds.id}:p:%:{what}%"),
               col(Outbox.kind).in_(("invitation", "reminder")),
               col(Outbox.status).in_(("pending", "held")))
        .values(status="cancelled", error=f"dialogue session {ds.status}")
        .execution_options(synchronize_session=False)
    )
