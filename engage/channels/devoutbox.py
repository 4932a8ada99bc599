"""The development outbox: SMS "sent" nowhere when TWILIO_* is unset.

The dispatcher stores the outbox row and the outbound ``Message`` as for a real send, so
``engage outbox`` and ``engage chat`` can show what a resident would have received. The log line
carries the masked number and the outbox id only, never the body.
"""

from __future__ import annotations

import logging

from engage.channels.base import ChannelName, Outbound, SendResult
from engage.channels.segments import measure
from engage.privacy import mask

log = logging.getLogger("engage.devoutbox")

DEV_PROVIDER_PREFIX = "DEV"


class DevOutboxSender:
    """``Sender`` that records every message as delivered without leaving the machine."""

    rate_limited = False  # nothing leaves the machine, so no carrier throughput to respect

    def __init__(self, channel: ChannelName = "sms") -> None:
        self.channel: ChannelName = channel

    async def send(self, message: Outbound) -> SendResult:
        size = measure(message.text)
        log.info(
            "development outbox: outbox=%s to=%s segments=%s",
            message.outbox_id,
            mask(message.address),
            size.segments,
        )
        return SendResult(
            ok=True,
            provider_id=f"{DEV_PROVIDER_PREFIX}{message.outbox_id:012d}",
            status="delivered",
            segments=size.segments,
            encoding=size.encoding,
        )
