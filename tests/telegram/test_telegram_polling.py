"""``engage telegram poll``: long polling through the same Router, runtime and dispatcher."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from engage.channels.base import Inbound
from engage.channels.deeplinks import make_code
from engage.channels.telegram_updates import ALLOWED_UPDATES
from engage.commands.telegram import route_library_logs, run_polling
from engage.logging import ScrubFilter
from engage.runtime import Runtime
from engage.storage.db import make_engine
from engage.storage.tables import Run
from engage.storage.tables.scheduling import DialogueSession
from engage.telegram.multi_select import TICK
from engage.telegram.texts import ALREADY_ANSWERED
from tests.fakes.telegram_api import FakeTelegramAPI, Updates
from tests.telegram.telegram_harness import (
    CHAT,
    api_fixture,  # noqa: F401  (registers the ``api`` fixture)
    telegram_settings,
)

SPANISH_MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
                  "septiembre", "octubre", "noviembre", "diciembre")

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


class Polling:
    """``run_polling`` in the test's loop against the fake Bot API, fed with updates."""

    def __init__(self, api: FakeTelegramAPI, settings: Any, runtime: Runtime, engine: Any,
                 **extra: Any) -> None:
        self.api = api
        self.updates = Updates(start=100)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(run_polling(
            telegram_settings(settings, api, **extra), polling_timeout=1, runtime=runtime,
            engine=engine, stop=self.stop))

    def send(self, payload: dict[str, Any]) -> None:
        self.api.updates.append(payload)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 15)


def press(polling: Polling, message: dict[str, Any], label: str) -> None:
    current = next(m for m in polling.api.messages if m["message_id"] == message["message_id"])
    (data,) = [b["callback_data"] for row in current["reply_markup"]["inline_keyboard"]
               for b in row if b["text"].removeprefix(TICK) == label]
    polling.send(polling.updates.press_on(current, data))


async def test_polling_multi_select_and_double_press(
    api: FakeTelegramAPI, settings: Any, runtime: Runtime, db_engine: Any, clock: Any
) -> None:
    clock.set(datetime.now(UTC))  # the dispatcher drops replies older than the wall clock allows
    with Session(db_engine) as session:
        ds = DialogueSession(title="Listening session", area="Federal Hill", place="Library",
                             starts_at=clock() + timedelta(days=3),
                             ends_at=clock() + timedelta(days=3, hours=2),
                             timezone="America/New_York", capacity=20, mediator="m",
                             checkin_code="FH2345", created_at=clock())
        session.add(ds)
        session.commit()
        assert ds.id is not None
        code = make_code(settings.secret_bytes(), "session", ds.id, now=clock())
    polling = Polling(api, settings, runtime, db_engine)
    try:
        polling.send(polling.updates.text(CHAT, f"/start {code}", language="es"))
        await wait_for(lambda: api.last_message(CHAT) is not None)
        invite = api.last_message(CHAT)
        month = SPANISH_MONTHS[(clock() + timedelta(days=3)).month - 1]
        assert invite is not None and f"de {month}" in invite["text"]  # a Spanish date
        clock.advance(seconds=5)  # residents take a moment; two presses in a row
        press(polling, invite, "Sí")
        press(polling, invite, "Sí")  # pressed twice before the first was handled
        await wait_for(lambda: api.sent_texts(CHAT)[-1].startswith("¿Necesita algo"))
        needs = api.last_message(CHAT)
        assert needs is not None and needs["text"].startswith("¿Necesita algo")
        clock.advance(seconds=5)
        press(polling, needs, "Cuidado de niños")
        await wait_for(lambda: len(api.calls_to("editMessageReplyMarkup")) >= 2)
        press(polling, needs, "Transporte")
        await wait_for(lambda: len(api.calls_to("editMessageReplyMarkup")) >= 3)
        press(polling, needs, "Listo")
        sent_before = len(api.sent_texts(CHAT))
        await wait_for(lambda: len(api.sent_texts(CHAT)) > sent_before)
        assert api.sent_texts(CHAT)[-1].startswith("¡Gracias!")
    finally:
        await polling.close()
    with Session(db_engine) as session:
        (run,) = session.exec(select(Run)).all()
    results = json.loads(run.state)["results"]
    assert results == {"rsvp": "yes", "needs": "childcare,ride"}
    notices = [c.params.get("text") for c in api.calls_to("answerCallbackQuery")]
    assert notices.count(ALREADY_ANSWERED["es"]) == 1  # the second "Sí"


async def test_polling_runs_the_scheduler_ticks(
    api: FakeTelegramAPI, settings: Any, runtime: Runtime, db_engine: Any, clock: Any
) -> None:
    """A reminder falls due while nothing else happens: polling's own ticks send it."""
    runtime.handle_inbound(Inbound(channel="telegram", address=str(CHAT), text="hello",
                                   provider_id="tg:1", received_at=clock()))
    clock.advance(hours=25)  # the consent reminder is due
    polling = Polling(api, settings, runtime, db_engine)
    try:
        await wait_for(lambda: any(t.startswith("Reminder") for t in api.sent_texts(CHAT)),
                       timeout=40)
        assert sum(t.startswith("Reminder") for t in api.sent_texts(CHAT)) == 1
    finally:
        await polling.close()


async def test_polling_without_in_process_scheduler_says_what_to_run(
    api: FakeTelegramAPI, settings: Any, runtime: Runtime, db_engine: Any, clock: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runtime.handle_inbound(Inbound(channel="telegram", address=str(CHAT), text="hello",
                                   provider_id="tg:1", received_at=clock()))
    clock.advance(hours=25)
    polling = Polling(api, settings, runtime, db_engine, run_scheduler_in_process=False)
    await asyncio.sleep(1.5)
    await polling.close()
    assert "run `engage scheduler` beside it" in capsys.readouterr().out
    assert not any(t.startswith("Reminder") for t in api.sent_texts(CHAT))


async def test_polling_logs_a_lost_update_on_one_clean_line(
    api: FakeTelegramAPI, settings: Any, catalog: Any, tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = make_engine(f"sqlite:///{tmp_path}/missing-dir/nothing-here/db.sqlite3")
    runtime = Runtime(engine=broken, settings=settings, catalog=catalog)
    caplog.set_level(logging.INFO, logger="engage")
    polling = Polling(api, settings, runtime, broken, run_scheduler_in_process=False)
    try:
        polling.send(polling.updates.text(CHAT, "my number is 410-555-0123"))
        polling.send(polling.updates.sticker(CHAT))  # the next update is tried all the same
        await wait_for(lambda: caplog.text.count("lost") >= 2, timeout=30)
    finally:
        await polling.close()
    lost = [r for r in caplog.records if "lost" in r.getMessage()]
    assert [r.getMessage() for r in lost] == [
        f"telegram update={n} lost: database unavailable after 4 attempts" for n in (101, 102)]
    assert all(r.exc_info is None for r in lost) and "410" not in caplog.text


def test_poll_command_routes_aiogram_logs_through_engage(monkeypatch: pytest.MonkeyPatch) -> None:
    from engage.logging import configure

    configure("INFO", json_lines=False)
    route_library_logs("aiogram")
    aiogram = logging.getLogger("aiogram")
    (handler,) = [h for h in aiogram.handlers if getattr(h, "_engage", False)]
    assert any(isinstance(f, ScrubFilter) for f in handler.filters)
    assert handler.formatter is not None and "asctime" in (handler.formatter._fmt or "")
    assert aiogram.level == logging.WARNING and not aiogram.propagate
    aiogram.removeHandler(handler)
