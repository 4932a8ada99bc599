"""Stopping: opting out (keyword, own words, provider signal), and the hold while a resident
is asked whether they want to stop (nothing else goes out until they answer)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlmodel import col

from engage import opt_out_intent
from engage.compliance import Keyword
from engage.consent import record_consent
from engage.flow import engine
from engage.logging import log_event
from engage.runtime.context import MessageContext, Services, log
from engage.runtime.texts import opt_out_questions
from engage.storage import repo
from engage.storage.records import ParticipantFields, RunFields, RunRow
from engage.storage.sql import Tx, transaction
from engage.storage.tables import Outbox


def held(run: RunFields) -> bool:
    """The run waits for an answer to the clarification (``engine.hold``)."""
    return engine.HOLD in run.state and engine.is_held(json.loads(run.state))


def own_words(text: str, active: RunRow | None,
              asked: Callable[[], bool]) -> Keyword | None:
    """Opt-out in the resident's own words (``engage.opt_out_intent``). After a clarification,
    "yes" or any opt-out phrase stops; anything else lifts the hold and is handled as usual.
    ``asked``: whether the last thing sent was the clarification (read only for a "yes" from
    a resident with no survey open, whose hold has no run to live in)."""
    is_held = active is not None and held(active)
    language = opt_out_intent.language_of(text)
    if opt_out_intent.confirms(text) and (is_held or (active is None and asked())):
        return Keyword("opt_out", "own_words", language)
    intent = opt_out_intent.classify(text)
    if intent == "opt_out":
        return Keyword("opt_out", "own_words", language)
    if is_held and active is not None:  # answered with something else: carry on
        active.state = json.dumps(engine.release(json.loads(active.state)),
                                  separators=(",", ":"))
        return None
    return Keyword("clarify", "own_words", language) if intent == "ask" else None


def asked_to_stop(services: Services, tx: Tx, participant_id: int) -> bool:
    """The participant's newest outbox row is the clarification ("Reply STOP ...")."""
    last = tx.orm_session().execute(
        sa_select(col(Outbox.body)).where(col(Outbox.participant_id) == participant_id)
        .order_by(col(Outbox.id).desc()).limit(1)).scalar()
    return last in opt_out_questions(services.settings)


def hold(ctx: MessageContext) -> None:
    """Nothing else goes out until the resident answers the clarification: queued messages
    are cancelled, the run's reminders and timeouts stop, and campaigns pass it by."""
    repo.cancel_pending_outbox(tx=ctx.tx, participant_id=ctx.participant.id or 0,
                               keep_confirmations=True, reason="asked whether to stop")
    active = ctx.active
    if active is not None:
        active.state = json.dumps(engine.hold(json.loads(active.state)), separators=(",", ":"))
        active.wake_at = None
        repo.save_run(tx=ctx.tx, run=active)


def opt_out(tx: Tx, participant: ParticipantFields, *, source: str, now: datetime,
            keep_confirmations: bool) -> None:
    """Record the opt-out, end the waiting run, cancel what is queued."""
    record_consent(tx=tx, participant=participant, scope="all", status="opted_out",
                   text_version=source, now=now, source=source)
    active = repo.active_run(tx=tx, participant_id=participant.id or 0)
    if active is not None:
        repo.end_run(run=active, status="ended", now=now)
        repo.save_run(tx=tx, run=active)
    repo.cancel_pending_outbox(tx=tx, participant_id=participant.id or 0,
                               keep_confirmations=keep_confirmations, reason="opted out")


def record_provider_opt_out(services: Services, *, participant_id: int, source: str,
                            now: datetime) -> bool:
    """The provider says the resident unsubscribed or blocked us (Twilio 21610, Telegram
    403): record the opt-out, end the run, cancel everything queued. No confirmation (it
    could not be delivered). Returns False when already opted out or unknown."""
    with transaction(services.engine) as tx:
        participant = repo.participant_by_id(tx=tx, participant_id=participant_id,
                                             lock=True)
        if participant is None or participant.opted_out:
            return False
        opt_out(tx, participant, source=source[:40], now=now, keep_confirmations=False)
    log_event(log, "participant.provider_opt_out", participant=participant.key, source=source)
    return True
