"""Old keyboards must not answer new questions.

Inline keyboards stay on screen. Four Likert questions in a row share the labels 1-5, so a
press on an old keyboard would be recorded as the answer to whatever question is open now.
Each button carries the id of the outbox message that drew it (``<outbox id>=<value>``);
a press is *stale* when the resident has answered something in a run since that message was
queued (an inbound message tied to a run, i.e. a conversational reply, typed or pressed).
Keywords such as HELP are not tied to a run, so they don't retire the keyboard, and neither
do reminders (they re-ask the same question).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from engage.storage.models import Message, Outbox, Participant


def stale_check(runtime: Any, settings: Any) -> Callable[[str, int], bool]:
    """``is_stale(chat_id, outbox_id)`` for the gateway, bound to one runtime and secret."""
    from engage.privacy import normalize_address, participant_key

    secret = settings.secret_bytes()

    def is_stale(address: str, outbox_id: int) -> bool:
        key = participant_key(secret, "telegram", normalize_address("telegram", address))
        with Session(runtime.engine) as session:
            participant = session.exec(
                select(Participant).where(Participant.channel == "telegram", Participant.key == key)
            ).first()
            if participant is None:
                return False  # unknown resident: let the runtime decide what to do
            row = session.get(Outbox, outbox_id)
            if row is None or row.participant_id != participant.id:
                return True  # not a keyboard we drew for this resident
            later = session.exec(
                select(Message.id)
                .where(
                    Message.participant_id == participant.id,
                    Message.direction == "in",
                    col(Message.run_id).is_not(None),
                    col(Message.created_at) > row.created_at,
                )
                .limit(1)
            ).first()
            return later is not None

    return is_stale
