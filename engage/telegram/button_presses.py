"""A Telegram button press: where it is handled, and when it counts.

A press counts only for the question it was sent with, while that question is open.
Inline keyboards stay on screen. Four Likert questions in a row share the labels 1-5, so a
press on an old keyboard would otherwise be recorded as the answer to whatever question is
open now. Each button carries the id of the outbox message that drew it (``<outbox id>=
<value>``). The press is *stale* unless that message belongs to the resident's run that is
still waiting, and was queued at or after the moment the open question was asked (the
engine keeps ``asked_at`` in the run state): so the question itself, its re-prompts, its
reminders and its re-ask in another language all count; a keyboard from an earlier question
(answered by a button, by typing, or by a keyword such as ``/language en``), or from a run
that another run (a campaign) replaced, does not.

The check runs under the per-chat lock of ``chat_order`` so that it and the answer it lets
through are one step: two presses at once cannot both be recorded.

A press that counts is the button's value as a typed reply; an "all that apply" keyboard
ticks options and sends them on Done (``multi_select``). The press is answered (the
spinner stops) and the keyboard is removed from the old message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from engage.channels.telegram_updates import ButtonPress, PressReplies
from engage.telegram import store
from engage.telegram.multi_select import is_done, is_toggle, multi_press
from engage.telegram.texts import ALREADY_ANSWERED, CHOOSE_FIRST, said

if TYPE_CHECKING:
    from engage.telegram.service import TelegramService


async def handle_press(
    service: TelegramService, press: ButtonPress, replies: PressReplies
) -> object:
    """Record a button press as the resident's reply, unless it is stale or only ticks."""
    stale = service.is_stale
    if stale is not None and await asyncio.to_thread(stale, str(press.chat_id), press.outbox_id):
        lang = await service.language(press.chat_id, press.language_hint)
        await replies.settle(said(ALREADY_ANSWERED, lang))
        return None
    value = press.value
    if press.accessible and (is_toggle(value) or is_done(value)):

        async def choose_first() -> str:
            return said(CHOOSE_FIRST, await service.language(press.chat_id, press.language_hint))

        ticked = await multi_press(service.keyboards, press, replies, choose_first)
        if ticked is None:
            return None
        value = ticked
    outcome = await service.submit(press.inbound(value, received_at=service.clock()))
    await replies.settle(None)
    return outcome


def stale_check(engine: Engine, secret: bytes) -> Callable[[str, int], bool]:
    """``is_stale(chat_id, outbox_id)`` for the service, bound to one database and secret."""

    def is_stale(chat_id: str, outbox_id: int) -> bool:
        with store.reading(engine) as session:
            resident = store.resident_by_chat(session, secret, chat_id)
            if resident is None:
                return True  # engage never drew a keyboard for this chat
            origin = store.keyboard_origin(session, outbox_id)
            if (origin is None or origin.participant_id != resident.participant_id
                    or origin.run_id is None):
                return True  # not a question we asked this resident
            question = store.open_question(session, origin.run_id)
            if question is None or not question.waiting:
                return True  # that run is over, or another run replaced it
            if question.asked_at is not None:
                return _aware(origin.created_at) < question.asked_at
            # a run started before the engine kept ``asked_at``: any reply since retires it
            return store.replied_since(
                session, resident.participant_id, question.run_id, origin.created_at
            )

    return is_stale


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
