"""A fake Telegram Bot API server on 127.0.0.1, so the real aiogram client code runs in tests.

aiogram's ``AiohttpSession`` posts multipart forms to ``{base}/bot{token}/{method}``; this
server answers the methods engage uses, records every call, and can be told to fail the way
Telegram fails: 403 for a chat that blocked the bot, 429 with ``retry_after``, 500. It runs on
its own event loop in a background thread so it serves sync tests, async tests, the FastAPI
test client and the benchmark alike.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Engage", "username": "engage_test_bot"}


@dataclass
class Call:
    """One Bot API request as the fake received it (JSON fields already decoded)."""

    method: str
    token: str
    params: dict[str, Any]


@dataclass
class _Faults:
    blocked_chats: set[int] = field(default_factory=set)
    retry_after: list[int] = field(default_factory=list)  # consumed one per sendMessage
    server_errors: int = 0  # next N sendMessage calls answer 500


class FakeTelegramAPI:
    """Use as ``with FakeTelegramAPI() as api:``; set ENGAGE_TELEGRAM_API_URL to ``api.url``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.faults = _Faults()
        self.updates: list[dict[str, Any]] = []  # served by getUpdates (polling mode)
        self.messages: list[dict[str, Any]] = []  # Message objects sendMessage returned
        self._lock = threading.Lock()
        self._next_message_id = 1000
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeTelegramAPI:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Telegram API did not start")

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        loop.run_until_complete(web.SockSite(self._runner, sock).start())
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- inspection -----------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        """Texts of sendMessage calls (optionally to one chat), in order."""
        return [
            str(c.params["text"])
            for c in self.calls_to("sendMessage")
            if chat_id is None or int(c.params["chat_id"]) == chat_id
        ]

    def last_keyboard(self, chat_id: int) -> list[dict[str, Any]]:
        """Buttons (text, callback_data) of the last message to ``chat_id``; [] without one."""
        for call in reversed(self.calls_to("sendMessage")):
            if int(call.params["chat_id"]) == chat_id:
                markup = call.params.get("reply_markup") or {}
                return [b for row in markup.get("inline_keyboard", []) for b in row]
        return []

    def last_message(self, chat_id: int) -> dict[str, Any] | None:
        """The last Message object sent to ``chat_id`` (as the Bot API returned it)."""
        with self._lock:
            for message in reversed(self.messages):
                if message["chat"]["id"] == chat_id:
                    return message
        return None

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def wait_for(self, method: str, count: int, timeout: float = 10.0) -> list[Call]:
        """Block until at least ``count`` calls of ``method`` arrived (for polling tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls_to(method)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"expected {count} {method} calls, got {len(self.calls_to(method))}")

    # -- the API --------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        params = _decode_fields(dict(await request.post()))
        with self._lock:
            self.calls.append(Call(method=method, token=token, params=params))
        answer = getattr(self, f"_m_{method}", None)
        if answer is None:
            return _error(404, f"Not Found: method {method} not faked")
        result: web.Response = await answer(params)
        return result

    async def _m_getMe(self, params: dict[str, Any]) -> web.Response:
        return _ok(BOT_USER)

    async def _m_sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat_id = int(params["chat_id"])
        with self._lock:
            if chat_id in self.faults.blocked_chats:
                return _error(403, "Forbidden: bot was blocked by the user")
            if self.faults.retry_after:
                seconds = self.faults.retry_after.pop(0)
                return _error(
                    429,
                    f"Too Many Requests: retry after {seconds}",
                    {"retry_after": seconds},
                )
            if self.faults.server_errors > 0:
                self.faults.server_errors -= 1
                return _error(500, "Internal Server Error")
            self._next_message_id += 1
            message_id = self._next_message_id
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "text": params.get("text", ""),
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        with self._lock:
            self.messages.append(message)
        return _ok(message)

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> web.Response:
        """Redraws (or removes) the keyboard of a message sent before, as Telegram does: a
        later press on that message carries the new keyboard."""
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        with self._lock:
            for message in self.messages:
                if message["chat"]["id"] == chat_id and message["message_id"] == message_id:
                    if params.get("reply_markup"):
                        message["reply_markup"] = params["reply_markup"]
                    else:
                        message.pop("reply_markup", None)
                    return _ok(message)
        return _error(400, "Bad Request: message to edit not found")

    async def _m_setWebhook(self, params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _m_getUpdates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 0.5)
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                pending = [u for u in self.updates if u["update_id"] >= offset]
            if pending or time.monotonic() >= deadline:
                return _ok(pending[:100])
            await asyncio.sleep(0.02)


_JSON_FIELDS = frozenset({"reply_markup", "allowed_updates", "link_preview_options"})


def _decode_fields(form: dict[str, Any]) -> dict[str, Any]:
    """aiogram sends nested objects (reply_markup, allowed_updates) as JSON strings."""
    decoded: dict[str, Any] = {}
    for key, value in form.items():
        text = str(value)
        decoded[key] = json.loads(text) if key in _JSON_FIELDS else text
    return decoded


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


class Updates:
    """Builds Telegram update JSON the way the Bot API sends it, with increasing update ids.

    Tests validate these with ``aiogram.types.Update.model_validate`` (or post them to the
    webhook), so the shapes must be real ones.
    """

    def __init__(self, start: int = 500_000) -> None:
        self.next_id = start
        self._message_id = 1

    def _wrap(self, **body: Any) -> dict[str, Any]:
        self.next_id += 1
        return {"update_id": self.next_id, **body}

    def _message(
        self, chat_id: int, *, chat_type: str = "private", language: str | None = "en", **extra: Any
    ) -> dict[str, Any]:
        self._message_id += 1
        user: dict[str, Any] = {"id": abs(chat_id), "is_bot": False, "first_name": "Resident"}
        if language:
            user["language_code"] = language
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type != "private":
            chat["title"] = "Neighbourhood group"
        return {
            "message_id": self._message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            **extra,
        }

    def text(self, chat_id: int, text: str, **kw: Any) -> dict[str, Any]:
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        extra: dict[str, Any] = {"text": text}
        if entities:
            extra["entities"] = entities
        return self._wrap(message=self._message(chat_id, **extra, **kw))

    def edited(self, chat_id: int, text: str) -> dict[str, Any]:
        body = self._message(chat_id, text=text, edit_date=int(time.time()))
        return self._wrap(edited_message=body)

    def sticker(self, chat_id: int, **kw: Any) -> dict[str, Any]:
        sticker = {
            "file_id": "CAACAgIAAxkBAAIB",
            "file_unique_id": "AgADsticker",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return self._wrap(message=self._message(chat_id, sticker=sticker, **kw))

    def photo(self, chat_id: int, caption: str | None = None) -> dict[str, Any]:
        photo = [{"file_id": "AgACphoto", "file_unique_id": "AQADphoto", "width": 90, "height": 90}]
        extra: dict[str, Any] = {"photo": photo}
        if caption:
            extra["caption"] = caption
        return self._wrap(message=self._message(chat_id, **extra))

    def voice(self, chat_id: int) -> dict[str, Any]:
        voice = {"file_id": "AwACvoice", "file_unique_id": "AgADvoice", "duration": 3}
        return self._wrap(message=self._message(chat_id, voice=voice))

    def press(
        self, chat_id: int, data: str, *, keyboard: list[dict[str, Any]], message_id: int = 1001
    ) -> dict[str, Any]:
        """A button press on bot message ``message_id`` that still shows ``keyboard``."""
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "text": "question",
            "reply_markup": {"inline_keyboard": [[b] for b in keyboard]},
        }
        query = {
            "id": f"cbq-{self.next_id + 1}",
            "from": {"id": chat_id, "is_bot": False, "first_name": "Resident"},
            "chat_instance": "ci-1",
            "data": data,
            "message": message,
        }
        return self._wrap(callback_query=query)

    def press_on(self, message: dict[str, Any], data: str) -> dict[str, Any]:
        """A press of the button carrying ``data`` on a message the bot sent (fake's record)."""
        chat_id = message["chat"]["id"]
        query = {
            "id": f"cbq-{self.next_id + 1}",
            "from": {"id": chat_id, "is_bot": False, "first_name": "Resident"},
            "chat_instance": "ci-1",
            "data": data,
            "message": message,
        }
        return self._wrap(callback_query=query)

    def blocked(self, chat_id: int) -> dict[str, Any]:
        """``my_chat_member``: the resident blocked the bot."""
        member = {"id": BOT_USER["id"], "is_bot": True, "first_name": "Engage"}
        body = {
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Resident"},
            "date": int(time.time()),
            "old_chat_member": {"status": "member", "user": member},
            "new_chat_member": {"status": "kicked", "until_date": 0, "user": member},
        }
        return self._wrap(my_chat_member=body)
