"""A provider says a resident unsubscribed or blocked us (Twilio 21610, Telegram 403).

The dispatcher does not record that itself: it is handed the one function that does (the
runtime's ``record_provider_opt_out``: consent ledger, audit entry, the run ended, everything
queued cancelled), so an opt-out is recorded the same way wherever it is reported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

SOURCES = {"sms": "twilio_21610", "telegram": "telegram_blocked"}


class ProviderOptOut(Protocol):
    """Records a provider-reported opt-out; False when already opted out or unknown."""

    def __call__(self, *, participant_id: int, source: str, now: datetime) -> bool: ...


def source_for(channel: str) -> str:
    """How the consent ledger names the provider that reported the opt-out."""
    return SOURCES.get(channel, "provider")
