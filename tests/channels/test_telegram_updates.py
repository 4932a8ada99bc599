"""Router and middleware: every kind of update becomes the right Inbound, or a polite line.

The handler under test is aiogram's real Dispatcher; only the runtime call is replaced by a
recorder, because what is checked here is the mapping (the runtime has its own tests, and the
webhook tests run the two together).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import Update

from engage.channels.base import Inbound
from engage.channels.telegram import build_bot
from engage.channels.telegram_updates import build_dispatcher
from engage.config import Settings
from engage.telegram.service import TelegramService
from engage.telegram.texts import ONLY_TEXT
from tests.fakes.telegram_api import FakeTelegramAPI, Updates

CHAT = 4242


class Recorder:
    def __init__(self) -> None:
        self.inbound: list[Inbound] = []
        self.blocked: list[str] = []

    def handle(self, inbound: Inbound) -> str:
        self.inbound.append(inbound)
        return "handled"

    def on_blocked(self, address: str, now: datetime) -> None:
        assert now.tzinfo is not None
        self.blocked.append(address)


@pytest.fixture
def api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeTelegramAPI) -> AsyncIterator[Bot]:
    settings = Settings(  # type: ignore[call-arg]  # by alias: mypy runs without pydantic's plugin
        TELEGRAM_BOT_TOKEN="123456:TEST", ENGAGE_TELEGRAM_API_URL=api.url
    )
    made = build_bot(settings)
    yield made
    await made.session.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def dispatcher(recorder: Recorder) -> Dispatcher:
    return build_dispatcher(TelegramService(handle=recorder.handle, on_blocked=recorder.on_blocked))


async def feed(dispatcher: Dispatcher, bot: Bot, payload: dict[str, Any]) -> Any:
    return await dispatcher.feed_update(bot, Update.model_validate(payload, context={"bot": bot}))


async def test_text_becomes_inbound(dispatcher: Dispatcher, bot: Bot, recorder: Recorder) -> None:
    payload = Updates().text(CHAT, "I feel safe", language="es-MX")
    assert await feed(dispatcher, bot, payload) == "handled"
    (inbound,) = recorder.inbound
    assert inbound.channel == "telegram" and inbound.address == str(CHAT)
    assert inbound.text == "I feel safe"
    assert inbound.provider_id == f"tg:{payload['update_id']}"
    assert inbound.language_hint == "es"
    offset = inbound.received_at.utcoffset()
    assert offset is not None and offset.total_seconds() == 0


@pytest.mark.parametrize(
    ("command", "keyword"),
    [
        ("/stop", "STOP"),
        ("/help", "HELP"),
        ("/delete", "DELETE"),
        ("/language", "LANGUAGE"),
        ("/language es", "ESPAÑOL"),
        ("/language English", "ENGLISH"),
        ("/STOP", "STOP"),
    ],
)
async def test_commands_map_to_compliance_keywords(
    dispatcher: Dispatcher, bot: Bot, recorder: Recorder, command: str, keyword: str
) -> None:
    await feed(dispatcher, bot, Updates().text(CHAT, command))
    assert [i.text for i in recorder.inbound] == [keyword]


async def test_start_carries_deep_link_payload(
    dispatcher: Dispatcher, bot: Bot, recorder: Recorder
) -> None:
    updates = Updates()
    await feed(dispatcher, bot, updates.text(CHAT, "/start Abc_123-x"))
    await feed(dispatcher, bot, updates.text(CHAT, "/start"))
    assert [(i.text, i.start_payload) for i in recorder.inbound] == [
        ("START", "Abc_123-x"),
        ("START", None),
    ]


async def test_button_press_feeds_value_answers_and_removes_keyboard(
    api: FakeTelegramAPI, dispatcher: Dispatcher, bot: Bot, recorder: Recorder
) -> None:
    keyboard = [
        {"text": "Yes", "callback_data": "17=yes"},
        {"text": "No", "callback_data": "17=no"},
    ]
    payload = Updates().press(CHAT, "17=no", keyboard=keyboard, message_id=3003)
    assert await feed(dispatcher, bot, payload) == "handled"
    assert [i.text for i in recorder.inbound] == ["no"]
    assert recorder.inbound[0].provider_id == f"tg:{payload['update_id']}"
    (answer,) = api.calls_to("answerCallbackQuery")
    assert answer.params["callback_query_id"] == payload["callback_query"]["id"]
    (edit,) = api.calls_to("editMessageReplyMarkup")
    assert int(edit.params["chat_id"]) == CHAT and int(edit.params["message_id"]) == 3003
    assert "reply_markup" not in edit.params  # no markup = keyboard removed


async def test_long_value_button_is_read_back_from_its_label(
    dispatcher: Dispatcher, bot: Bot, recorder: Recorder
) -> None:
    keyboard = [
        {"text": "Called for help", "callback_data": "5#0"},
        {"text": "A community event", "callback_data": "5#1"},
    ]
    await feed(dispatcher, bot, Updates().press(CHAT, "5#1", keyboard=keyboard))
    assert [i.text for i in recorder.inbound] == ["A community event"]


async def test_foreign_button_data_is_answered_not_recorded(
    api: FakeTelegramAPI, dispatcher: Dispatcher, bot: Bot, recorder: Recorder
) -> None:
    keyboard = [{"text": "?", "callback_data": "something-else"}]
    await feed(dispatcher, bot, Updates().press(CHAT, "something-else", keyboard=keyboard))
    assert recorder.inbound == []
    assert len(api.calls_to("answerCallbackQuery")) == 1


@pytest.mark.parametrize("kind", ["sticker", "photo", "voice"])
async def test_media_gets_one_polite_line(
    api: FakeTelegramAPI, dispatcher: Dispatcher, bot: Bot, recorder: Recorder, kind: str
) -> None:
    payload = getattr(Updates(), kind)(CHAT)
    await feed(dispatcher, bot, payload)
    assert recorder.inbound == []
    assert api.sent_texts(CHAT) == [ONLY_TEXT["en"]]


async def test_unknown_command_gets_a_hint_not_an_answer(
    api: FakeTelegramAPI, dispatcher: Dispatcher, bot: Bot, recorder: Recorder
) -> None:
    await feed(dispatcher, bot, Updates().text(CHAT, "/survey"))
    assert recorder.inbound == []
    (line,) = api.sent_texts(CHAT)
    assert "/help" in line


async def test_edited_messages_and_groups_are_ignored(
    api: FakeTelegramAPI, dispatcher: Dispatcher, bot: Bot, recorder: Recorder
) -> None:
    updates = Updates()
    assert await feed(dispatcher, bot, updates.edited(CHAT, "changed my mind")) is UNHANDLED
    group = updates.text(-100123, "hello bot", chat_type="supergroup")
    assert await feed(dispatcher, bot, group) is UNHANDLED
    assert await feed(dispatcher, bot, updates.sticker(-100123, chat_type="group")) is UNHANDLED
    assert recorder.inbound == [] and api.calls == []


async def test_blocking_the_bot_is_reported(
    dispatcher: Dispatcher, bot: Bot, recorder: Recorder
) -> None:
    await feed(dispatcher, bot, Updates().blocked(CHAT))
    assert recorder.blocked == [str(CHAT)]
    assert recorder.inbound == []


async def test_runtime_errors_propagate(bot: Bot) -> None:
    """A failing runtime must reach the webhook (so it answers 5xx), not be swallowed."""

    def broken(inbound: Inbound) -> None:
        raise RuntimeError("database is down")

    dispatcher = build_dispatcher(TelegramService(handle=broken, clock=lambda: datetime.now(UTC)))
    with pytest.raises(RuntimeError):
        await feed(dispatcher, bot, Updates().text(CHAT, "hi"))
