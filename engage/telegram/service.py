"""``TelegramService``: what engage does with a Telegram update once the channel has parsed it.

The channel (``engage.channels.telegram_updates``) turns aiogram updates into an ``Inbound``
or a ``ButtonPress`` and calls one method here per kind of update; this service decides and
the channel sends. The webhook route, the poller command and the tests all use it: bound to
a runtime with ``TelegramService.for_runtime``, or built from plain callables in tests.

Where each kind of update is handled:
- text, keywords -> ``submit`` (the runtime's inbound path);
- ``/start <code>`` -> ``start`` (``links``: deep-link invitations);
- a button press -> ``press`` (``button_presses``; "all that apply" in ``multi_select``);
- the bot blocked -> ``blocked`` (``blocked``);
- stickers, photos, unknown commands -> ``unsupported`` (one line, nothing stored).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from engage.channels.base import Inbound
from engage.channels.deeplinks import DeepLink
from engage.channels.telegram_updates import ButtonPress, ChatReplies, PressReplies, Unsupported
from engage.config import Settings
from engage.telegram.blocked import blocked_hook
from engage.telegram.button_presses import handle_press, stale_check
from engage.telegram.links import RuntimeLinks
from engage.telegram.multi_select import KeyboardMemory
from engage.telegram.ports import TelegramRuntime
from engage.telegram.residents import Resident, resident_lookup
from engage.telegram.texts import (
    LINK_UNUSABLE,
    ONLY_TEXT,
    UNKNOWN_COMMAND,
    app_language,
    said,
)

_UNSUPPORTED_LINES: dict[Unsupported, dict[str, str]] = {
    "media": ONLY_TEXT,
    "command": UNKNOWN_COMMAND,
}


class LinkJoiner(Protocol):
    """Deep links: read a /start code, and join what it points to (``links``)."""

    def read(self, payload: str, now: datetime) -> DeepLink | None: ...

    def join(self, inbound: Inbound, link: DeepLink) -> object: ...


@dataclass
class TelegramService:
    """The Telegram business logic behind the channel, bound to its collaborators.

    ``handle`` is the runtime's ``handle_inbound`` (``handle_async`` its async entry, if
    any); ``on_blocked(chat_id, now)`` records an opt-out when the resident blocks the bot;
    ``links`` joins deep links (without it, /start codes are passed on in
    ``Inbound.start_payload`` only); ``is_stale(chat_id, outbox_id)`` tells a press on an
    already-answered keyboard; ``resident`` gives a stored resident's chosen language and
    opt-out (for the lines sent from here); ``clock`` gives aware UTC time.
    """

    handle: Callable[[Inbound], object]
    on_blocked: Callable[[str, datetime], None] | None = None
    links: LinkJoiner | None = None
    is_stale: Callable[[str, int], bool] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    handle_async: Callable[[Inbound], Awaitable[object]] | None = None
    resident: Callable[[str], Resident | None] | None = None
    keyboards: KeyboardMemory = field(default_factory=KeyboardMemory)

    @classmethod
    def for_runtime(cls, runtime: TelegramRuntime, settings: Settings) -> TelegramService:
        """The service for a real runtime: messages, deep links, presses and block notices."""
        secret = settings.secret_bytes()
        return cls(
            handle=runtime.handle_inbound,
            handle_async=runtime.handle_inbound_async,
            on_blocked=blocked_hook(runtime, secret),
            links=RuntimeLinks(runtime),
            is_stale=stale_check(runtime.engine, secret),
            resident=resident_lookup(runtime.engine, secret),
            clock=runtime.clock,
        )

    async def language(self, chat_id: int, app_hint: str | None) -> str:
        """One rule for every line: the resident's chosen language, else their Telegram
        app's, else English."""
        found = await self.lookup(chat_id)
        return found.language if found is not None else app_language(app_hint)

    async def lookup(self, chat_id: int) -> Resident | None:
        if self.resident is None:
            return None
        return await asyncio.to_thread(self.resident, str(chat_id))

    async def submit(self, inbound: Inbound) -> object:
        """Hand the message to the runtime without blocking the event loop (its async entry:
        one thread hop per batch; else a thread); its errors propagate to the caller."""
        if self.handle_async is not None:
            return await self.handle_async(inbound)
        return await asyncio.to_thread(self.handle, inbound)

    async def start(self, inbound: Inbound, replies: ChatReplies) -> object:
        """/start: join a deep link's campaign or session, else a plain START."""
        if inbound.start_payload and self.links is not None:
            link = self.links.read(inbound.start_payload, self.clock())
            if link is None:
                lang = await self.language(int(inbound.address), inbound.language_hint)
                await replies.say(LINK_UNUSABLE[lang])
            else:
                outcome = await asyncio.to_thread(self.links.join, inbound, link)
                if getattr(outcome, "status", None) != "fallback":
                    return outcome
        return await self.submit(inbound)

    async def press(self, press: ButtonPress, replies: PressReplies) -> object:
        """A button press (see ``button_presses``)."""
        return await handle_press(self, press, replies)

    async def blocked(self, chat_id: int) -> None:
        """The resident blocked the bot: an opt-out (Telegram will refuse our messages)."""
        if self.on_blocked is not None:
            await asyncio.to_thread(self.on_blocked, str(chat_id), self.clock())

    async def unsupported(
        self, kind: Unsupported, chat_id: int, app_hint: str | None, replies: ChatReplies
    ) -> None:
        """A line engage sends without storing anything: never to a resident who opted out,
        and in the resident's chosen language."""
        found = await self.lookup(chat_id)
        if found is not None and found.opted_out:
            return
        lang = found.language if found is not None else app_language(app_hint)
        await replies.say(said(_UNSUPPORTED_LINES[kind], lang))
