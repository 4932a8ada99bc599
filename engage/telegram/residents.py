"""What the Telegram service needs to know about a resident before any message is stored:
their chosen language and whether they opted out (for the lines it sends itself)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from engage.telegram import store


@dataclass(frozen=True)
class Resident:
    """What the Telegram layer may know of a stored resident: no address, no messages."""

    language: str
    opted_out: bool


def resident_lookup(engine: Engine, secret: bytes) -> Callable[[str], Resident | None]:
    """``resident(chat_id)`` for the service: None for someone engage has never stored (or
    has erased)."""

    def resident(chat_id: str) -> Resident | None:
        with store.reading(engine) as session:
            found = store.resident_by_chat(session, secret, chat_id)
        if found is None or found.erased:
            return None
        return Resident(language=found.language, opted_out=found.opted_out)

    return resident
