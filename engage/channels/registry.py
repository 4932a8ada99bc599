"""Which ``Sender`` handles each channel, decided once from the settings."""

from __future__ import annotations

import logging

from engage.channels.base import Sender
from engage.channels.devoutbox import DevOutboxSender
from engage.config import Settings

log = logging.getLogger("engage.channels")


def build_senders(settings: Settings) -> dict[str, Sender]:
    """SMS: Twilio when TWILIO_* is set, else the development outbox (refused in production).
    Telegram: only when TELEGRAM_BOT_TOKEN is set."""
    senders: dict[str, Sender] = {}
    if settings.twilio_enabled:
        from engage.channels.sms import TwilioSender

        senders["sms"] = TwilioSender(settings)
    elif settings.env != "production":
        senders["sms"] = DevOutboxSender("sms")
        log.info("TWILIO_* not set: SMS goes to the development outbox")
    if settings.telegram_bot_token:
        from engage.channels.telegram import build_telegram_sender

        senders["telegram"] = build_telegram_sender(settings)
    return senders
