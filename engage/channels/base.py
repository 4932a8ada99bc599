"""The channel boundary: value objects in and out, and the one-method sender protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

ChannelName = Literal["sms", "telegram"]


@dataclass(frozen=True)
class Inbound:
    """One message from a resident, already authenticated and parsed by a channel adapter.

    ``address`` is the E.164 number (SMS) or the chat id as text (Telegram); it is PII and
    never logged. ``provider_id`` (MessageSid, update_id) is the dedupe key.
    """

    channel: ChannelName
    address: str
    text: str
    provider_id: str
    received_at: datetime
    media_count: int = 0
    start_payload: str | None = None  # Telegram /start deep-link payload
    language_hint: str | None = None


@dataclass(frozen=True)
class OutboundButton:
    label: str
    value: str


@dataclass(frozen=True)
class Outbound:
    """One message to send, read from an outbox row and decrypted just before sending."""

    outbox_id: int
    channel: ChannelName
    address: str
    text: str
    buttons: tuple[OutboundButton, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SendResult:
    """What the provider said. ``retry_after`` set means a transient failure worth retrying."""

    ok: bool
    provider_id: str | None = None
    status: str | None = None
    error_code: str | None = None
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None
    opted_out: bool = False  # provider says the recipient unsubscribed / blocked the bot
    segments: int | None = None
    encoding: str | None = None
    # the request may have reached the provider (a timeout after sending, a dropped
    # connection): the dispatcher looks the message up before any resend
    in_doubt: bool = False


class LookupUnavailable(Exception):
    """The provider could not answer a lookup now (down, throttled): try again later."""


class Sender(Protocol):
    """A channel's outbound half: one method, easy to fake at the network boundary only."""

    channel: ChannelName

    async def send(self, message: Outbound) -> SendResult: ...


class LookupSender(Sender, Protocol):
    """A sender that can find a message it may already have sent (Twilio's Message list).

    ``lookup`` returns what the provider holds that matches ``message`` since ``since``, oldest
    first, as successful ``SendResult`` values; the dispatcher takes the first whose provider id
    is not already recorded for another row. Raises ``LookupUnavailable`` when it cannot tell.
    """

    async def lookup(self, message: Outbound, since: datetime) -> list[SendResult]: ...
