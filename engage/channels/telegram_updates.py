"""Telegram inbound half: an aiogram Router and middleware that parse updates for the service.

Shared by the webhook route and ``engage telegram poll``: both feed updates to the aiogram
``Dispatcher`` built here. The handlers only parse: each maps an update to an ``Inbound`` or a
``ButtonPress`` and calls one method of the ``UpdateHandler`` (``engage.telegram.service.
TelegramService``), which decides what happens and answers through ``BotReplies``. Errors
from the runtime (``RetryableError``) propagate so the webhook answers 5xx and Telegram
retries; the runtime's dedupe on ``provider_id`` (the update id) makes the retry safe.

What residents may send, as parsed here:
- text -> an ``Inbound`` reply; ``/stop``, ``/help``, ``/delete``, ``/language`` -> the
  compliance keywords STOP, HELP, DELETE, LANGUAGE (``/language es`` -> ESPAÑOL);
- ``/start`` -> START, with the deep-link code (if any) in ``Inbound.start_payload``;
- a button press -> a ``ButtonPress`` (the outbox message that drew the keyboard, the value);
- stickers, photos, voice, files, unknown commands -> ``unsupported``;
- edited messages, channel posts, group chats -> ignored (a bot in a group must not start
  surveys in public); the bot being blocked (``my_chat_member`` kicked) -> ``blocked``.
One chat's updates are handled one at a time, in arrival order (``engage.telegram.chat_order``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from aiogram import BaseMiddleware, Bot, Dispatcher, F, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
    Update,
)

from engage.channels.base import ChannelName, Inbound
from engage.channels.telegram import decode_callback
from engage.errors import RetryableError
from engage.telegram.chat_order import ChatLocks, chat_of

log = logging.getLogger("engage.telegram")

CHANNEL: ChannelName = "telegram"
COMMAND_KEYWORDS: dict[str, str] = {
    "stop": "STOP",
    "help": "HELP",
    "delete": "DELETE",
    "language": "LANGUAGE",
}
LANGUAGE_ARGS: dict[str, str] = {
    "es": "ESPAÑOL",
    "espanol": "ESPAÑOL",
    "español": "ESPAÑOL",
    "spanish": "ESPAÑOL",
    "en": "ENGLISH",
    "english": "ENGLISH",
    "ingles": "ENGLISH",
    "inglés": "ENGLISH",
}
# Every update type a handler below uses: ``set-webhook`` and polling subscribe to exactly these.
ALLOWED_UPDATES: list[str] = ["message", "callback_query", "my_chat_member"]

Unsupported = Literal["media", "command"]  # what a resident sent that engage does not read
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]  # a middleware's next step


@dataclass(frozen=True)
class ButtonPress:
    """A press on one of engage's inline buttons, parsed.

    ``outbox_id`` is the outbox message that drew the keyboard; ``value`` the option's value
    (read back from the button's label when it did not fit the callback data); ``keyboard``
    the keyboard as the resident sees it, and ``accessible`` False when Telegram no longer
    returns the message (too old): then there is no keyboard to redraw.
    """

    chat_id: int
    message_id: int
    outbox_id: int
    value: str
    keyboard: InlineKeyboardMarkup | None
    accessible: bool
    update_id: int
    language_hint: str | None

    def inbound(self, text: str, *, received_at: datetime) -> Inbound:
        """The press as the resident's typed reply ``text``."""
        return Inbound(
            channel=CHANNEL,
            address=str(self.chat_id),
            text=text,
            provider_id=f"tg:{self.update_id}",
            received_at=received_at.astimezone(UTC),
            language_hint=self.language_hint,
        )


class ChatReplies(Protocol):
    """Lines sent to a chat without storing anything (best effort)."""

    async def say(self, text: str) -> None: ...


class PressReplies(ChatReplies, Protocol):
    """How a button press is answered on screen (best effort)."""

    async def answer(self, notice: str | None) -> None:
        """Stop the button's spinner, showing ``notice`` if given."""
        ...

    async def settle(self, notice: str | None) -> None:
        """Answer the press and remove the keyboard so an old question can't be re-answered."""
        ...

    async def redraw(self, keyboard: InlineKeyboardMarkup) -> None:
        """Show ``keyboard`` on the pressed message instead of the old one."""
        ...


class UpdateHandler(Protocol):
    """What the router hands parsed updates to (``engage.telegram.service.TelegramService``)."""

    async def submit(self, inbound: Inbound) -> object: ...

    async def start(self, inbound: Inbound, replies: ChatReplies) -> object: ...

    async def press(self, press: ButtonPress, replies: PressReplies) -> object: ...

    async def blocked(self, chat_id: int) -> None: ...

    async def unsupported(
        self, kind: Unsupported, chat_id: int, app_hint: str | None, replies: ChatReplies
    ) -> None: ...


def _language_hint(message: Message | CallbackQuery) -> str | None:
    user = message.from_user
    if user is None or not user.language_code:
        return None
    return user.language_code.split("-")[0].lower()


def _inbound(
    *,
    chat_id: int,
    text: str,
    update: Update,
    received_at: datetime,
    hint: str | None,
    start_payload: str | None = None,
) -> Inbound:
    return Inbound(
        channel=CHANNEL,
        address=str(chat_id),
        text=text,
        provider_id=f"tg:{update.update_id}",
        received_at=received_at.astimezone(UTC),
        start_payload=start_payload,
        language_hint=hint,
    )


def parse_press(query: CallbackQuery, update: Update) -> ButtonPress | None:
    """The press on one of engage's buttons, or None (not engage's button, or no answer)."""
    choice = decode_callback(query.data)
    message = query.message
    if choice is None or message is None:
        return None
    accessible = isinstance(message, Message)
    value = choice.value
    if value is None and choice.index is not None and isinstance(message, Message):
        value = _label_at(message, choice.index)
    if value is None:
        return None
    return ButtonPress(
        chat_id=message.chat.id,
        message_id=message.message_id,
        outbox_id=choice.outbox_id,
        value=value,
        keyboard=message.reply_markup if isinstance(message, Message) else None,
        accessible=accessible,
        update_id=update.update_id,
        language_hint=_language_hint(query),
    )


def _label_at(message: Message, index: int) -> str | None:
    markup = message.reply_markup
    if markup is None:
        return None
    buttons = [b for row in markup.inline_keyboard for b in row]
    return buttons[index].text if 0 <= index < len(buttons) else None


class BotReplies:
    """``PressReplies`` through aiogram: failures are logged, never raised (the answer is
    already recorded, and a retry of the update would be a duplicate anyway)."""

    def __init__(self, bot: Bot, chat_id: int, query: CallbackQuery | None = None) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.query = query

    async def say(self, text: str) -> None:
        try:
            await self.bot.send_message(chat_id=self.chat_id, text=text)
        except TelegramAPIError as exc:
            log.info("telegram system line not delivered: %s", type(exc).__name__)

    async def answer(self, notice: str | None) -> None:
        if self.query is None:
            return
        try:
            await self.bot.answer_callback_query(callback_query_id=self.query.id, text=notice)
        except TelegramAPIError as exc:
            log.info("telegram answerCallbackQuery failed: %s", type(exc).__name__)

    async def settle(self, notice: str | None) -> None:
        await self.answer(notice)
        message = self.query.message if self.query is not None else None
        if isinstance(message, Message) and message.reply_markup is not None:
            await self._edit_markup(message.message_id, None)

    async def redraw(self, keyboard: InlineKeyboardMarkup) -> None:
        message = self.query.message if self.query is not None else None
        if message is not None:
            await self._edit_markup(message.message_id, keyboard)

    async def _edit_markup(self, message_id: int, keyboard: InlineKeyboardMarkup | None) -> None:
        try:
            await self.bot.edit_message_reply_markup(
                chat_id=self.chat_id, message_id=message_id, reply_markup=keyboard
            )
        except TelegramAPIError as exc:
            log.info("telegram editMessageReplyMarkup failed: %s", type(exc).__name__)


class UpdateContextMiddleware(BaseMiddleware):
    """Outer middleware on every update: logs its id and type (never chat ids or text), drops
    update types this aiogram does not know before they reach the routers, and handles one
    chat's updates one at a time, in the order they arrived (``chat_order``)."""

    def __init__(self) -> None:
        self.locks = ChatLocks()

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        if isinstance(event, Update):
            kind = _event_type(event)
            log.debug("telegram update=%s type=%s", event.update_id, kind)
            if kind == "unknown":
                # aiogram would warn with the whole update (personal data) in the message
                return UNHANDLED
            chat_id = chat_of(event)
            if chat_id is not None:
                async with self.locks.hold(chat_id):
                    return await handler(event, data)
        return await handler(event, data)


def _event_type(update: Update) -> str:
    try:
        return update.event_type
    except Exception:  # unknown update types from a newer Bot API
        return "unknown"


def build_router() -> Router:
    """The Router: private chats only; one handler per kind of resident input."""
    router = Router(name="engage-telegram")
    private = F.chat.type == ChatType.PRIVATE
    router.message.filter(private)
    router.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)
    router.my_chat_member.filter(F.chat.type == ChatType.PRIVATE)

    @router.message(CommandStart(ignore_case=True))
    async def on_start(
        message: Message,
        command: CommandObject,
        event_update: Update,
        service: UpdateHandler,
        bot: Bot,
    ) -> object:
        payload = (command.args or "").strip() or None
        inbound = _inbound(
            chat_id=message.chat.id,
            text="START",
            update=event_update,
            received_at=message.date,
            hint=_language_hint(message),
            start_payload=payload,
        )
        return await service.start(inbound, BotReplies(bot, message.chat.id))

    @router.message(Command(*COMMAND_KEYWORDS, ignore_case=True))
    async def on_keyword(
        message: Message, command: CommandObject, event_update: Update, service: UpdateHandler
    ) -> object:
        keyword = COMMAND_KEYWORDS[command.command.lower()]
        if keyword == "LANGUAGE" and command.args:
            keyword = LANGUAGE_ARGS.get(command.args.strip().lower(), keyword)
        return await service.submit(
            _inbound(
                chat_id=message.chat.id,
                text=keyword,
                update=event_update,
                received_at=message.date,
                hint=_language_hint(message),
            )
        )

    @router.message(F.text.startswith("/"))
    async def on_unknown_command(message: Message, bot: Bot, service: UpdateHandler) -> None:
        await service.unsupported("command", message.chat.id, _language_hint(message),
                                  BotReplies(bot, message.chat.id))

    @router.message(F.text)
    async def on_text(message: Message, event_update: Update, service: UpdateHandler) -> object:
        return await service.submit(
            _inbound(
                chat_id=message.chat.id,
                text=message.text or "",
                update=event_update,
                received_at=message.date,
                hint=_language_hint(message),
            )
        )

    @router.message()
    async def on_other(message: Message, bot: Bot, service: UpdateHandler) -> None:
        """Stickers, photos, voice, files, locations...: one polite line, nothing stored."""
        await service.unsupported("media", message.chat.id, _language_hint(message),
                                  BotReplies(bot, message.chat.id))

    @router.callback_query()
    async def on_button(
        query: CallbackQuery, bot: Bot, event_update: Update, service: UpdateHandler
    ) -> object:
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        replies = BotReplies(bot, chat_id, query)
        press = parse_press(query, event_update)
        if press is None:
            await replies.settle(None)  # not engage's button: stop the spinner only
            return None
        return await service.press(press, replies)

    @router.my_chat_member()
    async def on_membership(event: ChatMemberUpdated, service: UpdateHandler) -> None:
        if event.new_chat_member.status == "kicked":
            await service.blocked(event.chat.id)

    return router


class PollingGuardMiddleware(BaseMiddleware):
    """Polling only (the webhook answers 503 instead, and Telegram redelivers): an update
    whose handling meets a transient failure (database locked or down) is tried again a few
    times, since getUpdates will not serve it twice; one that still fails is logged as lost,
    on one line without the exception's text (it can quote stored values)."""

    def __init__(self, attempts: int = 4, delay: float = 0.5) -> None:
        self.attempts = attempts
        self.delay = delay

    async def __call__(self, handler: Handler, event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        update_id = getattr(event, "update_id", "?")
        for attempt in range(1, self.attempts + 1):
            try:
                return await handler(event, data)
            except RetryableError:
                if attempt == self.attempts:
                    break
                await asyncio.sleep(self.delay * attempt)
            except Exception as exc:
                log.error("telegram update=%s lost: %s", update_id, type(exc).__name__)
                return UNHANDLED
        log.error("telegram update=%s lost: database unavailable after %s attempts",
                  update_id, self.attempts)
        return UNHANDLED


def build_dispatcher(service: UpdateHandler, *, polling: bool = False) -> Dispatcher:
    """The aiogram Dispatcher with engage's router, middleware and service wired in."""
    dispatcher = Dispatcher(service=service)
    if polling:
        dispatcher.update.outer_middleware(PollingGuardMiddleware())
    dispatcher.update.outer_middleware(UpdateContextMiddleware())
    dispatcher.include_router(build_router())
    return dispatcher
