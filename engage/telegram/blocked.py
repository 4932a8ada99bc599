"""A resident who blocks the bot has opted out: record it the moment Telegram tells us.

Telegram reports a block twice: a ``my_chat_member`` update with status ``kicked`` (handled
here) and a 403 on the next send (``TelegramSender`` -> ``SendResult.opted_out``, recorded by
the outbox dispatcher). Only an existing participant is touched; a block from a chat engage
never talked to creates nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from engage.telegram import store
from engage.telegram.ports import TelegramRuntime

log = logging.getLogger("engage.telegram")

BLOCKED_SOURCE = "telegram_blocked"


def blocked_hook(runtime: TelegramRuntime, secret: bytes) -> Callable[[str, datetime], None]:
    """``on_blocked(chat_id, now)`` for the service, bound to one runtime and secret."""

    def on_blocked(chat_id: str, now: datetime) -> None:
        with Session(runtime.engine) as session:
            resident = store.resident_by_chat(session, secret, chat_id)
        if resident is None:
            return
        runtime.record_provider_opt_out(
            participant_id=resident.participant_id, source=BLOCKED_SOURCE, now=now
        )
        log.info("telegram participant=%s blocked the bot: opted out", resident.key[:12])

    return on_blocked
