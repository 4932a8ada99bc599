"""A press counts only for the question it was sent with, while that question is open.

Inline keyboards stay on screen. Four Likert questions in a row share the labels 1-5, so a
press on an old keyboard would otherwise be recorded as the answer to whatever question is
open now. Each button carries the id of the outbox message that drew it (``<outbox id>=
<value>``). The press is *stale* unless that message belongs to the resident's run that is
still waiting, and was queued at or after the moment the open question was asked (the
engine keeps ``asked_at`` in the run state): so the question itself, its re-prompts, its
reminders and its re-ask in another language all count; a keyboard from an earlier question
(answered by a button, by typing, or by a keyword such as ``/language en``), or from a run
that another run (a campaign) replaced, does not.

The check runs under the per-chat lock of ``telegram_updates`` so that it and the answer it
lets through are one step: two presses at once cannot both be recorded.

Also here: what the Telegram layer needs to know about a resident before any message is
stored (their chosen language, whether they opted out), for the system lines it sends itself.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from engage.errors import RetryableError
from engage.storage.models import Message, Outbox, Participant, Run


@dataclass(frozen=True)
class Resident:
    """What the Telegram layer may know of a stored resident: no address, no messages."""

    language: str
    opted_out: bool


@contextlib.contextmanager
def _reading(engine: Engine) -> Iterator[Session]:
    """A read-only session; a database that is down or locked is a ``RetryableError`` (the
    webhook answers 503 and Telegram redelivers; polling tries again), as in the runtime."""
    try:
        with Session(engine) as session:
            yield session
    except OperationalError as exc:
        raise RetryableError(f"database unavailable: {type(exc.orig).__name__}") from exc


def _participant(session: Session, settings: Any, address: str) -> Participant | None:
    from engage.privacy import normalize_address, participant_key

    key = participant_key(settings.secret_bytes(), "telegram",
                          normalize_address("telegram", address))
    return session.exec(
        select(Participant).where(Participant.channel == "telegram", Participant.key == key)
    ).first()


def resident_lookup(runtime: Any, settings: Any) -> Callable[[str], Resident | None]:
    """``resident(chat_id)`` for the gateway: None for someone engage has never stored."""

    def resident(address: str) -> Resident | None:
        with _reading(runtime.engine) as session:
            participant = _participant(session, settings, address)
            if participant is None or participant.erased_at is not None:
                return None
            return Resident(language=participant.language, opted_out=participant.opted_out)

    return resident


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def stale_check(runtime: Any, settings: Any) -> Callable[[str, int], bool]:
    """``is_stale(chat_id, outbox_id)`` for the gateway, bound to one runtime and secret."""

    def is_stale(address: str, outbox_id: int) -> bool:
        with _reading(runtime.engine) as session:
            participant = _participant(session, settings, address)
            if participant is None:
                return True  # engage never drew a keyboard for this chat
            row = session.get(Outbox, outbox_id)
            if row is None or row.participant_id != participant.id or row.run_id is None:
                return True  # not a question we asked this resident
            run = session.get(Run, row.run_id)
            if run is None or run.status != "waiting":
                return True  # that run is over, or another run replaced it
            asked = json.loads(run.state).get("asked_at")
            if asked:
                return _aware(row.created_at) < datetime.fromisoformat(asked)
            # a run started before the engine kept ``asked_at``: any reply since retires it
            later = session.exec(
                select(Message.id)
                .where(
                    Message.participant_id == participant.id,
                    Message.direction == "in",
                    col(Message.run_id) == run.id,
                    col(Message.created_at) > row.created_at,
                )
                .limit(1)
            ).first()
            return later is not None

    return is_stale
