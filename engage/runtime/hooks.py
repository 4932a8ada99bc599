"""Hooks into other features: a message may be a dialogue session's check-in code, an RSVP
answer takes its seat, a deliberation participant's reply goes to the deliberation. Each
imports its feature when first called (those features import the runtime's callers)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from engage.config import Settings
from engage.flow import engine
from engage.flow.events import ResultRecorded
from engage.runtime.context import MessageContext
from engage.storage.records import ParticipantRow, RunRow
from engage.storage.sql import Tx
from engage.storage.tables import Participant

if TYPE_CHECKING:
    from engage.deliberation.texting import Reply
    from engage.scheduling.dialogue import CheckinResult


def dialogue_checkin(tx: Tx, participant: ParticipantRow | Participant, text: str,
                     now: datetime) -> CheckinResult | None:
    """Hook (scheduling): a dialogue session's check-in code texted at the session records
    attendance and gets a welcome reply instead of going to the resident's flow."""
    from engage.scheduling.dialogue import checkin_code, handle_checkin

    if checkin_code(text) is None:  # most replies: no query, no ORM session
        return None
    result = handle_checkin(session=tx.orm_session(), participant=participant, text=text, now=now)
    tx.flush()
    return result


def dialogue_seat(tx: Tx, run: RunRow, state: dict[str, Any]) -> dict[str, Any]:
    """Hook (scheduling): before an invitation run reads an answer, put what a "yes" gets
    right now (``context.seat``: seat or waitlist) where the flow can branch on it."""
    from engage.scheduling.dialogue import RSVP_FLOW, rsvp_seat

    if run.flow_id != RSVP_FLOW or run.session_id is None or run.participant_id is None:
        return state
    seat = rsvp_seat(session=tx.orm_session(), session_id=run.session_id,
                     participant_id=run.participant_id)
    return engine.with_context(state, seat=seat)


def dialogue_rsvp(tx: Tx, run: RunRow, step: engine.Step, now: datetime,
                  settings: Settings) -> None:
    """Hook (scheduling): an RSVP answer takes its seat (or waitlist place) in this same
    transaction, so it is exactly what the reply just queued says."""
    from engage.scheduling.dialogue import RSVP_FLOW, rsvp_from_flow

    if run.flow_id != RSVP_FLOW or run.session_id is None or run.participant_id is None:
        return
    for event in step.events:
        if isinstance(event, ResultRecorded) and event.name == "rsvp" and event.value:
            tx.flush()
            rsvp_from_flow(session=tx.orm_session(), session_id=run.session_id,
                           participant_id=run.participant_id, answer=str(event.value),
                           now=now, settings=settings)
            tx.flush()


def deliberation_reply(ctx: MessageContext, text: str, settings: Settings) -> Reply | None:
    """Hook (deliberation): a vote, an own view, MORE or PAUSE from a resident taking part in
    a deliberation conversation; None for everyone else (one indexed read)."""
    from engage.deliberation.texting import handle_reply

    return handle_reply(ctx.tx, ctx.participant, text, now=ctx.now,
                        busy=ctx.active is not None, tz=settings.timezone,
                        program=settings.program_name, prefix=ctx.prefix)
