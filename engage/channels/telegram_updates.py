"""Telegram inbound half: an aiogram Router and middleware that turn updates into ``Inbound``.

Shared by the webhook route and ``engage telegram poll``: both feed updates to the aiogram
``Dispatcher`` built here. Handlers do no business logic: they map an update to one
``Inbound`` and hand it to the runtime (a synchronous, one-transaction call, run in a worker
thread). Errors from the runtime (``RetryableError``) propagate so the webhook answers 5xx and
Telegram retries; the runtime's dedupe on ``provider_id`` (the update id) makes the retry safe.

What residents may send, and what happens:
- text -> the runtime, as a reply; ``/stop``, ``/help``, ``/delete``, ``/language`` -> the
  compliance keywords STOP, HELP, DELETE, LANGUAGE (``/language es`` -> ESPAÑOL);
- ``/start`` -> START; ``/start <code>`` -> joins the deep link's campaign or dialogue session
  (telegram_links.py), or a plain START when the code can't be used;
- a button press -> the button's value as a reply; the press is answered and the keyboard
  removed from the old message; a press counts only for the question it was sent with, while
  that question is open (telegram_presses.py); an "all that apply" keyboard ticks options and
  sends them on Done (telegram_toggles.py);
- one chat's updates are handled one at a time, in arrival order (telegram_order.py);
- the lines sent from here are in the resident's chosen language, else their app's, else
  English, and never go to a resident who opted out;
- stickers, photos, voice, files, unknown commands -> one polite line, nothing stored;
- edited messages, channel posts, group chats -> ignored (a bot in a group must not start
  surveys in public); the bot being blocked -> an opt-out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aiogram import BaseMiddleware, Bot, Dispatcher, F, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message, TelegramObject, Update

from engage.channels.base import ChannelName, Inbound
from engage.channels.deeplinks import DeepLink
from engage.channels.telegram import decode_callback
from engage.channels.telegram_order import ChatLocks, chat_of
from engage.channels.telegram_presses import Resident
from engage.channels.telegram_toggles import (
    KeyboardMemory,
    is_done,
    is_toggle,
    ticked_reply,
    toggled,
)
from engage.errors import RetryableError

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
ONLY_TEXT = {
    "en": "Sorry, I can only read text messages. Please type your answer or use the buttons.",
    "es": "Lo siento, solo puedo leer mensajes de texto. Escriba su respuesta o use los botones.",
}
UNKNOWN_COMMAND = {
    "en": "Sorry, I don't know that command. Send /help for help or /stop to stop messages.",
    "es": "Lo siento, no conozco ese comando. Envíe /help para ayuda o /stop para no recibir más.",
}
ALREADY_ANSWERED = {
    "en": "That question was already answered. Please use the latest message.",
    "es": "Esa pregunta ya fue respondida. Use el mensaje más reciente.",
}
CHOOSE_FIRST = {
    "en": "Tap one or more answers first, then Done.",
    "es": "Toque una o más respuestas y luego Listo.",
}
LINK_UNUSABLE = {
    "en": "Sorry, this invitation link has expired or is not valid.",
    "es": "Lo siento, este enlace de invitación caducó o no es válido.",
}
# Every update type a handler below uses: ``set-webhook`` and polling subscribe to exactly these.
ALLOWED_UPDATES: list[str] = ["message", "callback_query", "my_chat_member"]


class LinkJoiner(Protocol):
    """Deep links: read a /start code, and join what it points to (telegram_links.py)."""

    def read(self, payload: str, now: datetime) -> DeepLink | None: ...

    def join(self, inbound: Inbound, link: DeepLink) -> Any: ...


BlockedHook = Callable[[str, datetime], None]
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]  # a middleware's next step


@dataclass
class TelegramGateway:
    """What the handlers need, injected into aiogram's workflow data as ``gateway``.

    ``handle`` is the runtime's ``handle_inbound``; ``on_blocked(address, now)`` records an
    opt-out when the resident blocks the bot; ``links`` joins deep links (without it, /start
    codes are passed on in ``Inbound.start_payload`` only); ``is_stale(chat_id, outbox_id)``
    tells a press on an already-answered keyboard (see telegram_presses.py); ``resident``
    gives a stored resident's chosen language and opt-out (for the lines sent from here);
    ``clock`` gives aware UTC time.
    """

    handle: Callable[[Inbound], Any]
    on_blocked: BlockedHook | None = None
    links: LinkJoiner | None = None
    is_stale: Callable[[str, int], bool] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    handle_async: Callable[[Inbound], Awaitable[Any]] | None = None  # the runtime's, if any
    resident: Callable[[str], Resident | None] | None = None
    keyboards: KeyboardMemory = field(default_factory=KeyboardMemory)

    async def language(self, chat_id: int, app_language: str | None) -> str:
        """One rule for every line: the resident's chosen language, else their Telegram
        app's, else English."""
        found = await self.lookup(chat_id)
        return found.language if found is not None else _lang(app_language)

    async def lookup(self, chat_id: int) -> Resident | None:
        if self.resident is None:
            return None
        return await asyncio.to_thread(self.resident, str(chat_id))

    async def submit(self, inbound: Inbound) -> Any:
        """Hand the message to the runtime without blocking the event loop (its async entry:
        one thread hop per batch; else a thread); its errors propagate to the caller."""
        if self.handle_async is not None:
            return await self.handle_async(inbound)
        return await asyncio.to_thread(self.handle, inbound)

    async def start(self, bot: Bot, inbound: Inbound) -> Any:
        """/start: join a deep link's campaign or session, else a plain START."""
        if inbound.start_payload and self.links is not None:
            link = self.links.read(inbound.start_payload, self.clock())
            if link is None:
                lang = await self.language(int(inbound.address), inbound.language_hint)
                await _say(bot, int(inbound.address), LINK_UNUSABLE[lang])
            else:
                outcome = await asyncio.to_thread(self.links.join, inbound, link)
                if getattr(outcome, "status", None) != "fallback":
                    return outcome
        return await self.submit(inbound)


def _lang(user_language: str | None) -> str:
    return "es" if (user_language or "").lower().startswith("es") else "en"


def _said(texts: dict[str, str], lang: str) -> str:
    return texts.get(lang) or texts["en"]


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
    media_count: int = 0,
) -> Inbound:
    return Inbound(
        channel=CHANNEL,
        address=str(chat_id),
        text=text,
        provider_id=f"tg:{update.update_id}",
        received_at=received_at.astimezone(UTC),
        media_count=media_count,
        start_payload=start_payload,
        language_hint=hint,
    )


class UpdateContextMiddleware(BaseMiddleware):
    """Outer middleware on every update: logs its id and type (never chat ids or text), drops
    update types this aiogram does not know before they reach the routers, and handles one
    chat's updates one at a time, in the order they arrived (``telegram_order``)."""

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


async def _say(bot: Bot, chat_id: int, text: str) -> None:
    """A best-effort system line (no PII, nothing to store): failures are logged, not raised."""
    try:
        await bot.send_message(chat_id=chat_id, text=text)
    except TelegramAPIError as exc:
        log.info("telegram system line not delivered: %s", type(exc).__name__)


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
        gateway: TelegramGateway,
        bot: Bot,
    ) -> Any:
        payload = (command.args or "").strip() or None
        return await gateway.start(
            bot,
            _inbound(
                chat_id=message.chat.id,
                text="START",
                update=event_update,
                received_at=message.date,
                hint=_language_hint(message),
                start_payload=payload,
            ),
        )

    @router.message(Command(*COMMAND_KEYWORDS, ignore_case=True))
    async def on_keyword(
        message: Message, command: CommandObject, event_update: Update, gateway: TelegramGateway
    ) -> Any:
        keyword = COMMAND_KEYWORDS[command.command.lower()]
        if keyword == "LANGUAGE" and command.args:
            keyword = LANGUAGE_ARGS.get(command.args.strip().lower(), keyword)
        return await gateway.submit(
            _inbound(
                chat_id=message.chat.id,
                text=keyword,
                update=event_update,
                received_at=message.date,
                hint=_language_hint(message),
            )
        )

    @router.message(F.text.startswith("/"))
    async def on_unknown_command(message: Message, bot: Bot, gateway: TelegramGateway) -> None:
        await _system_line(bot, gateway, message, UNKNOWN_COMMAND)

    @router.message(F.text)
    async def on_text(message: Message, event_update: Update, gateway: TelegramGateway) -> Any:
        return await gateway.submit(
            _inbound(
                chat_id=message.chat.id,
                text=message.text or "",
                update=event_update,
                received_at=message.date,
                hint=_language_hint(message),
            )
        )

    @router.message()
    async def on_other(message: Message, bot: Bot, gateway: TelegramGateway) -> None:
        """Stickers, photos, voice, files, locations...: one polite line, nothing stored."""
        await _system_line(bot, gateway, message, ONLY_TEXT)

    @router.callback_query()
    async def on_button(
        query: CallbackQuery, bot: Bot, event_update: Update, gateway: TelegramGateway
    ) -> Any:
        choice = decode_callback(query.data)
        message = query.message
        if choice is None or message is None:
            await _settle_press(bot, query)  # not engage's button: stop the spinner only
            return None
        value = choice.value
        if value is None and choice.index is not None and isinstance(message, Message):
            value = _label_at(message, choice.index)
        if value is None:
            await _settle_press(bot, query)
            return None
        stale = gateway.is_stale
        if stale is not None and await asyncio.to_thread(
            stale, str(message.chat.id), choice.outbox_id
        ):
            lang = await gateway.language(message.chat.id, _language_hint(query))
            await _settle_press(bot, query, notice=_said(ALREADY_ANSWERED, lang))
            return None
        if isinstance(message, Message) and (is_toggle(value) or is_done(value)):
            value = await _multi_press(bot, gateway, query, message, value)
            if value is None:
                return None
        outcome = await gateway.submit(
            _inbound(
                chat_id=message.chat.id,
                text=value,
                update=event_update,
                received_at=gateway.clock(),
                hint=_language_hint(query),
            )
        )
        await _settle_press(bot, query)
        return outcome

    @router.my_chat_member()
    async def on_membership(event: ChatMemberUpdated, gateway: TelegramGateway) -> None:
        """A resident who blocks the bot has opted out (Telegram will refuse our messages)."""
        if event.new_chat_member.status == "kicked" and gateway.on_blocked is not None:
            await asyncio.to_thread(gateway.on_blocked, str(event.chat.id), gateway.clock())

    return router


async def _system_line(
    bot: Bot, gateway: TelegramGateway, message: Message, texts: dict[str, str]
) -> None:
    """A line engage sends without storing anything: never to a resident who opted out, and
    in the resident's chosen language."""
    found = await gateway.lookup(message.chat.id)
    if found is not None and found.opted_out:
        return
    lang = found.language if found is not None else _lang(_language_hint(message))
    await _say(bot, message.chat.id, _said(texts, lang))


async def _multi_press(
    bot: Bot, gateway: TelegramGateway, query: CallbackQuery, message: Message, value: str
) -> str | None:
    """An option of a multi_choice keyboard toggles its tick (None: nothing to submit yet);
    Done returns the ticked options as the reply to submit."""
    chat_id, message_id = message.chat.id, message.message_id
    markup = gateway.keyboards.get(chat_id, message_id, message.reply_markup)
    if markup is None:
        await _settle_press(bot, query)
        return None
    if is_done(value):
        reply = ticked_reply(markup)
        if not reply:
            lang = await gateway.language(chat_id, _language_hint(query))
            await _answer_press(bot, query, _said(CHOOSE_FIRST, lang))
            return None
        gateway.keyboards.forget(chat_id, message_id)
        return reply
    redrawn = toggled(markup, value)
    gateway.keyboards.put(chat_id, message_id, redrawn)
    await _answer_press(bot, query, None)
    try:
        await bot.edit_message_reply_markup(
            chat_id=chat_id, message_id=message_id, reply_markup=redrawn
        )
    except TelegramAPIError as exc:
        log.info("telegram editMessageReplyMarkup failed: %s", type(exc).__name__)
    return None


async def _answer_press(bot: Bot, query: CallbackQuery, notice: str | None) -> None:
    try:
        await bot.answer_callback_query(callback_query_id=query.id, text=notice)
    except TelegramAPIError as exc:
        log.info("telegram answerCallbackQuery failed: %s", type(exc).__name__)


def _label_at(message: Message, index: int) -> str | None:
    markup = message.reply_markup
    if markup is None:
        return None
    buttons = [b for row in markup.inline_keyboard for b in row]
    return buttons[index].text if 0 <= index < len(buttons) else None


async def _settle_press(bot: Bot, query: CallbackQuery, notice: str | None = None) -> None:
    """Stop the button's spinner and remove the keyboard so an old question can't be re-answered.

    Both calls are best effort: the answer is already recorded, and a retry of this update
    would be a duplicate anyway.
    """
    await _answer_press(bot, query, notice)
    message = query.message
    if isinstance(message, Message) and message.reply_markup is not None:
        try:
            await bot.edit_message_reply_markup(
                chat_id=message.chat.id, message_id=message.message_id, reply_markup=None
            )
        except TelegramAPIError as exc:
            log.info("telegram editMessageReplyMarkup failed: %s", type(exc).__name__)


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


def build_dispatcher(gateway: TelegramGateway, *, polling: bool = False) -> Dispatcher:
    """The aiogram Dispatcher with engage's router, middleware and gateway wired in."""
    dispatcher = Dispatcher(gateway=gateway)
    if polling:
        dispatcher.update.outer_middleware(PollingGuardMiddleware())
    dispatcher.update.outer_middleware(UpdateContextMiddleware())
    dispatcher.include_router(build_router())
    return dispatcher
