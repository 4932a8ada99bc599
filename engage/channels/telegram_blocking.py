"""A resident who blocks the bot has opted out: record it the moment Telegram tells us.

Telegram reports a block twice: a ``my_chat_member`` update with status ``kicked`` (handled
here) and a 403 on the next send (``TelegramSender`` -> ``SendResult.opted_out``, recorded by
the dispatcher). Only an existing participant is touched; a block from a chat engage never
talked to creates nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from engage.config import Settings
from engage.storage.models import Participant

log = logging.getLogger("engage.telegram")

BLOCKED_SOURCE = "telegram_blocked"


def blocked_hook(runtime: Any, settings: Settings) -> Callable[[str, datetime], None]:
    """``on_blocked(chat_id, now)`` for the gateway, bound to one runtime and secret."""

    from engage.privacy import normalize_address, participant_key  # storage helper's module

    def on_blocked(address: str, now: datetime) -> None:
        key = participant_key(
            settings.secret_bytes(), "telegram", normalize_address("telegram", address)
        )
        with Session(runtime.engine) as session:
            participant = session.exec(
                select(Participant).where(Participant.channel == "telegram", Participant.key == key)
            ).first()
            participant_id = participant.id if participant is not None else None
        if participant_id is None:
            return
        runtime.record_provider_opt_out(
            participant_id=participant_id, source=BLOCKED_SOURCE, now=now
        )
        log.info("telegram participant=%s blocked the bot: opted out", key[:12])

    return on_blocked
