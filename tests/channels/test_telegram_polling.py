"""``engage telegram poll``: long polling through the same Router, runtime and dispatcher."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from engage.channels.telegram_updates import ALLOWED_UPDATES
from engage.commands.telegram import run_polling
from engage.runtime import Runtime
from tests.channels.telegram_harness import (
    CHAT,
    api_fixture,  # noqa: F401  (registers the ``api`` fixture)
    telegram_settings,
)
from tests.fakes.telegram_api import FakeTelegramAPI, Updates


async def wait_for(condition: Any, timeout: float = 15.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


async def test_polling_answers_messages_and_button_presses(
    api: FakeTelegramAPI, settings: Any, runtime: Runtime, db_engine: Any, clock: Any
) -> None:
    # the polling dispatcher reads the wall clock and drops replies older than
    # ENGAGE_REPLY_MAX_AGE: the runtime must stamp its rows with the same time
    clock.set(datetime.now(UTC))
    updates = Updates(start=10)
    api.updates.append(updates.text(CHAT, "/start"))
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_polling(
            telegram_settings(settings, api),
            polling_timeout=1,
            runtime=runtime,
            engine=db_engine,
            stop=stop,
        )
    )
    try:
        await wait_for(lambda: api.last_message(CHAT) is not None)
        question = api.last_message(CHAT)
        assert question is not None and "reply_markup" in question
        yes = question["reply_markup"]["inline_keyboard"][0][0]
        assert yes["text"] == "Yes"
        api.updates.append(updates.press_on(question, yes["callback_data"]))
        await wait_for(lambda: len(api.sent_texts(CHAT)) >= 2)
        assert "language" in api.sent_texts(CHAT)[1].lower()
        assert len(api.calls_to("answerCallbackQuery")) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert api.calls_to("deleteWebhook")
    polls = api.calls_to("getUpdates")
    assert polls and polls[0].params["allowed_updates"] == ALLOWED_UPDATES
    # each update was handled once even though the fake keeps serving old ones
    assert len(api.sent_texts(CHAT)) == 2
