"""Telegram outbound half: the aiogram Bot, inline keyboards, and the ``Sender`` for the dispatcher.

The inbound half (Router, middleware, update -> Inbound) is ``telegram_updates.py``. Both use
the real aiogram client; ``ENGAGE_TELEGRAM_API_URL`` points it at a local Bot API server or the
fake in the tests, through ``TelegramAPIServer.from_base``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions

from engage.channels.base import ChannelName, Outbound, OutboundButton, SendResult
from engage.config import Settings
from engage.errors import UserError
from engage.flow.events import MULTI_DONE

log = logging.getLogger("engage.telegram")

CALLBACK_DATA_MAX_BYTES = 64  # Telegram's limit on InlineKeyboardButton.callback_data
MESSAGE_MAX_CHARS = 4096
_SHORT_LABEL = 6  # labels this short share a row (likert 1-5, yes/no)
_ROW_MAX = 5
_CHAT_ID = re.compile(r"-?[0-9]{1,20}")
_TRANSIENT_DELAY = 5.0  # seconds before retrying a 5xx or a network failure
_OWN_ROW = frozenset({MULTI_DONE, "ENGLISH", "ESPAÑOL"})  # not answers: drawn below them


def build_bot(settings: Settings) -> Bot:
    """The aiogram Bot for ``TELEGRAM_BOT_TOKEN``, talking to ``ENGAGE_TELEGRAM_API_URL``."""
    if not settings.telegram_bot_token:
        raise UserError("TELEGRAM_BOT_TOKEN is not set")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    try:
        return Bot(token=settings.telegram_bot_token, session=session)
    except Exception as exc:  # aiogram raises TokenValidationError (a ValueError subclass)
        raise UserError("TELEGRAM_BOT_TOKEN does not look like a bot token") from exc


# -- callback data ------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackChoice:
    """A decoded button press: which outbox message it came from, and the answer it carries.

    ``value`` is the option's value; when that was too long for 64 bytes the button carries its
    position instead and ``index`` is set (the label is then read back from the keyboard).
    """

    outbox_id: int
    value: str | None
    index: int | None


def encode_callback(outbox_id: int, index: int, value: str) -> str:
    """``<outbox id>=<value>`` when it fits in 64 bytes, else ``<outbox id>#<position>``."""
    data = f"{outbox_id}={value}"
    if len(data.encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES:
        return data
    return f"{outbox_id}#{index}"


def decode_callback(data: str | None) -> CallbackChoice | None:
    """Inverse of ``encode_callback``; None for data engage did not make."""
    if not data:
        return None
    for sep in ("=", "#"):
        head, found, tail = data.partition(sep)
        if found and head.isdigit():
            if sep == "=":
                return CallbackChoice(outbox_id=int(head), value=tail, index=None)
            if tail.isdigit():
                return CallbackChoice(outbox_id=int(head), value=None, index=int(tail))
            return None
    return None


def build_keyboard(outbox_id: int, buttons: Sequence[OutboundButton]) -> InlineKeyboardMarkup:
    """Short labels (likert, yes/no) share rows of up to five; longer ones get a row each;
    a multi_choice Done and a switch to the other language come last, on rows of their own."""
    items = [
        InlineKeyboardButton(text=b.label, callback_data=encode_callback(outbox_id, i, b.value))
        for i, b in enumerate(buttons)
    ]
    answers = [item for item, b in zip(items, buttons, strict=True) if b.value not in _OWN_ROW]
    extras = [[item] for item, b in zip(items, buttons, strict=True) if b.value in _OWN_ROW]
    rows: list[list[InlineKeyboardButton]] = []
    if all(len(item.text) <= _SHORT_LABEL for item in answers):
        rows = [answers[i : i + _ROW_MAX] for i in range(0, len(answers), _ROW_MAX)]
    else:
        rows = [[item] for item in answers]
    return InlineKeyboardMarkup(inline_keyboard=rows + extras)


def split_text(text: str, limit: int = MESSAGE_MAX_CHARS) -> list[str]:
    """Split a long body at paragraph or line breaks so each part fits one Telegram message."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(
            rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit)
        )
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return parts


# -- sending ------------------------------------------------------------------------------


class TelegramSender:
    """The dispatcher's Telegram sender: one outbox row -> one (or, if long, several) messages.

    Errors become ``SendResult`` values, never exceptions: 403 (blocked, deactivated) means the
    resident is gone for good and is reported as ``opted_out``; 429 carries Telegram's
    ``retry_after``; 5xx and network failures are transient; other 4xx are permanent.
    """

    channel: ChannelName = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, message: Outbound) -> SendResult:
        if not _CHAT_ID.fullmatch(message.address):
            return SendResult(ok=False, error="address is not a chat id", permanent=True)
        chat_id = int(message.address)
        parts = split_text(message.text)
        keyboard = build_keyboard(message.outbox_id, message.buttons) if message.buttons else None
        first_id: int | None = None
        try:
            for number, part in enumerate(parts, start=1):
                sent = await self.bot.send_message(
                    chat_id=chat_id,
                    text=part,
                    reply_markup=keyboard if number == len(parts) else None,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
                first_id = first_id or sent.message_id
        except TelegramRetryAfter as exc:
            return SendResult(
                ok=False,
                error_code="429",
                error="flood control",
                retry_after=float(exc.retry_after),
            )
        except TelegramForbiddenError as exc:
            log.info("telegram outbox=%s refused: %s", message.outbox_id, exc.message)
            return SendResult(
                ok=False, error_code="403", error=exc.message, permanent=True, opted_out=True
            )
        except (TelegramServerError, TelegramNetworkError) as exc:
            return SendResult(
                ok=False, error_code="5xx", error=exc.message, retry_after=_TRANSIENT_DELAY
            )
        except TelegramUnauthorizedError:
            return SendResult(
                ok=False, error_code="401", error="bot token rejected", retry_after=60.0
            )
        except TelegramBadRequest as exc:
            return SendResult(ok=False, error_code="400", error=exc.message, permanent=True)
        except TelegramAPIError as exc:
            return SendResult(ok=False, error=exc.message, permanent=True)
        return SendResult(ok=True, provider_id=str(first_id), status="sent", segments=len(parts))

    async def close(self) -> None:
        await self.bot.session.close()


def build_telegram_sender(settings: Settings) -> TelegramSender:
    """Used by ``engage.channels.registry.build_senders`` when ``TELEGRAM_BOT_TOKEN`` is set."""
    return TelegramSender(build_bot(settings))
