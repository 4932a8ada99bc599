"""The Telegram end-to-end harness: app + real runtime + dispatcher + fake Bot API.

Imported by the Telegram webhook and deep-link tests (fixtures are registered under the names
``api`` and ``tg``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engage.channels.telegram import build_telegram_sender
from engage.config import Settings
from engage.outbox import Dispatcher
from engage.privacy import participant_key
from engage.runtime import Runtime
from engage.storage.tables import Participant, Response, Run
from engage.web.app import create_app
from engage.web.telegram_routes import SECRET_HEADER
from tests.fakes.telegram_api import FakeTelegramAPI, Updates

TOKEN = "123456:WEBHOOK-test-token"
SECRET = "webhook-secret_0123456789"
PATH = "/webhooks/telegram"
CHAT = 5550001


@dataclass
class Harness:
    api: FakeTelegramAPI
    client: httpx.AsyncClient
    dispatcher: Dispatcher
    engine: Engine
    settings: Settings
    updates: Updates
    clock: Any
    app: Any = None

    def tick(self) -> None:
        """Residents take a moment between messages (the runtime's clock is injected)."""
        self.clock.advance(seconds=7)

    async def post(self, payload: Any, secret: str | None = SECRET) -> httpx.Response:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        return await self.client.post(PATH, json=payload, headers=headers)

    async def deliver(self) -> int:
        """Send everything the outbox holds now (the test drives the dispatcher)."""
        total = 0
        while sent := await self.dispatcher.run_once():
            total += sent
        return total

    async def say(self, text: str, chat: int = CHAT) -> httpx.Response:
        self.tick()
        response = await self.post(self.updates.text(chat, text))
        await self.deliver()
        return response

    async def press(self, label: str, chat: int = CHAT) -> dict[str, Any]:
        """Press the button labelled ``label`` (or ``label - ...``) on the newest keyboard."""
        keyboards = [
            m for m in self.api.messages if m["chat"]["id"] == chat and "reply_markup" in m
        ]
        assert keyboards, "no keyboard to press"
        message = keyboards[-1]
        buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
        matching = [b for b in buttons if b["text"] == label or b["text"].startswith(f"{label} - ")]
        assert matching, f"no button {label!r} in {[b['text'] for b in buttons]}"
        self.tick()
        payload = self.updates.press_on(message, matching[0]["callback_data"])
        response = await self.post(payload)
        assert response.status_code == 200, response.text
        await self.deliver()
        return message

    def participant(self, chat: int = CHAT, channel: str = "telegram") -> Participant | None:
        key = participant_key(self.settings.secret_bytes(), channel, str(chat))
        with Session(self.engine) as session:
            return session.exec(
                select(Participant).where(Participant.channel == channel, Participant.key == key)
            ).first()

    def results(self, chat: int = CHAT) -> tuple[str | None, dict[str, str | None]]:
        participant = self.participant(chat)
        assert participant is not None
        with Session(self.engine) as session:
            run = session.exec(select(Run).where(Run.participant_id == participant.id)).one()
            rows = session.exec(select(Response).where(Response.run_id == run.id)).all()
            return run.status, {r.name: r.value for r in rows}


@pytest.fixture(name="api")
def api_fixture() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as fake:
        yield fake


def telegram_settings(settings: Settings, api: FakeTelegramAPI, **extra: Any) -> Settings:
    values = {
        "telegram_bot_token": TOKEN,
        "telegram_webhook_secret": SECRET,
        "telegram_api_url": api.url,
    } | extra
    return settings.model_copy(update=values)


@pytest.fixture(name="tg")
async def tg_fixture(
    api: FakeTelegramAPI, settings: Settings, db_engine: Engine, runtime: Runtime, clock: Any
) -> AsyncIterator[Harness]:
    tg_settings = telegram_settings(settings, api)
    app = create_app(tg_settings, engine=db_engine, runtime=runtime, start_background=False)
    sender = build_telegram_sender(tg_settings)
    dispatcher = Dispatcher(
        engine=db_engine,
        settings=tg_settings,
        senders={"telegram": sender},
        provider_opt_out=runtime.record_provider_opt_out,
        clock=clock,
        rates={"telegram": 0},
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Harness(api, client, dispatcher, db_engine, tg_settings, Updates(), clock, app)
    await sender.close()
    webhook = getattr(app.state, "telegram_webhook", None)
    if webhook is not None:
        await webhook.close()
