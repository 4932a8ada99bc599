"""One chat's updates are handled one at a time, in the order they arrived.

The webhook serves requests concurrently, and Telegram may deliver one chat's updates over
several connections at once. Without this, two presses of one button could both pass the
stale-press check before either answer was stored (both recorded), and two quick typed
answers could reach the runtime in the opposite order. Holding a per-chat lock from the
moment an update enters the Dispatcher until its handler returns (the runtime has committed)
makes the check and the answer one step, exactly as the runtime serializes an SMS resident.
``asyncio.Lock`` wakes its waiters in FIFO order, so arrival order is kept: the order in
which updates reach the Dispatcher (after their HTTP body was read; two requests of one chat
racing through that are ordered as they come out of it). Different chats never wait for each
other; a chat's lock is dropped once nobody holds or waits for it.

Polling handles updates one at a time anyway; the webhook of each ``engage serve`` process
has its own locks (run one web process per bot, or rely on the runtime's participant lock).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiogram.types import Update


def chat_of(update: Update) -> int | None:
    """The chat an update belongs to (messages, button presses, membership changes)."""
    if update.message is not None:
        return update.message.chat.id
    query = update.callback_query
    if query is not None:
        if query.message is not None:
            return query.message.chat.id
        return query.from_user.id
    if update.my_chat_member is not None:
        return update.my_chat_member.chat.id
    return None


class ChatLocks:
    """An ``asyncio.Lock`` per chat, made on demand and dropped when idle."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, chat_id: int) -> AsyncIterator[None]:
        lock, users = self._locks.get(chat_id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[chat_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            _, users = self._locks[chat_id]
            if users <= 1:
                del self._locks[chat_id]
            else:
                self._locks[chat_id] = (lock, users - 1)

    def busy(self, chat_id: int) -> bool:
        """Whether an update of this chat is being handled now."""
        found = self._locks.get(chat_id)
        return found is not None and found[0].locked()

    def __len__(self) -> int:
        return len(self._locks)
