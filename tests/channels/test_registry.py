"""Which sender each channel gets, from the settings alone."""

from __future__ import annotations

from engage.channels.base import Outbound
from engage.channels.devoutbox import DevOutboxSender
from engage.channels.registry import build_senders
from engage.channels.sms import TwilioSender
from engage.config import Settings


def test_without_twilio_sms_goes_to_the_development_outbox(settings: Settings) -> None:
    senders = build_senders(settings)
    assert isinstance(senders["sms"], DevOutboxSender)
    assert "telegram" not in senders


def test_with_twilio_sms_goes_through_twilio(settings: Settings) -> None:
    configured = settings.model_copy(update={"twilio_account_sid": "AC" + "1" * 32,
                                             "twilio_auth_token": "t" * 32,
                                             "twilio_from_number": "+14435550000"})
    assert isinstance(build_senders(configured)["sms"], TwilioSender)


def test_production_without_twilio_has_no_sms_sender(settings: Settings) -> None:
    production = settings.model_copy(update={"env": "production"})
    assert "sms" not in build_senders(production)
    assert production.twilio_webhook_token is None  # every SMS webhook is refused


async def test_development_outbox_records_without_leaving_the_machine(caplog: object) -> None:
    import logging

    sender = DevOutboxSender()
    with caplog.at_level(logging.INFO, logger="engage.devoutbox"):  # type: ignore[attr-defined]
        result = await sender.send(Outbound(outbox_id=42, channel="sms",
                                             address="+14105550123", text="Secret answer"))
    assert (result.ok, result.status, result.provider_id) == (True, "delivered",
                                                              "DEV000000000042")
    assert (result.segments, result.encoding) == (1, "GSM-7")
    logged = caplog.text  # type: ignore[attr-defined]
    assert "+14105550123" not in logged and "Secret answer" not in logged
    assert "outbox=42" in logged
