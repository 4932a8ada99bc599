"""An SMS harness for end-to-end tests through HTTP: the real app (httpx ASGI transport),
the real runtime on ``db_engine``, the real twilio ``Client`` sending to the loopback fake
REST API, and requests signed exactly as Twilio signs them."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from engage.channels.sms import SIGNATURE_HEADER, TwilioSender, sign
from engage.config import Settings
from engage.outbox import Dispatcher
from engage.web.app import create_app
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioAPI

PUBLIC_URL = "https://engage.example.org"
OUR_NUMBER = "+14435550000"
RESIDENT = "+14105550123"


class SmsHarness:
    """Plays Twilio (signed webhooks) and the resident's phone (what the fake API received)."""

    def __init__(self, client: httpx.AsyncClient, dispatcher: Dispatcher, api: FakeTwilioAPI,
                 settings: Settings, engine: Engine, runtime: Any) -> None:
        self.client = client
        self.runtime = runtime
        self.dispatcher = dispatcher
        self.api = api
        self.settings = settings
        self.engine = engine
        self._sids = itertools.count(1)

    def form(self, body: str, *, from_: str = RESIDENT, sid: str | None = None,
             media: int = 0) -> dict[str, str]:
        return {"MessageSid": sid or f"SMa{next(self._sids):031x}", "AccountSid": ACCOUNT_SID,
                "From": from_, "To": OUR_NUMBER, "Body": body, "NumMedia": str(media)}

    async def post(self, path: str, form: dict[str, str], *, signed_url: str | None = None,
                   token: str = AUTH_TOKEN, signature: str | None = None) -> httpx.Response:
        url = signed_url or PUBLIC_URL + path
        headers = {SIGNATURE_HEADER: signature or sign(token, url, form)}
        return await self.client.post(path, data=form, headers=headers)

    async def text(self, body: str, **kw: Any) -> httpx.Response:
        response = await self.post("/webhooks/twilio/sms", self.form(body, **kw))
        return response

    async def deliver(self, rounds: int = 10) -> int:
        """Run the dispatcher until nothing is due (bounded)."""
        total = 0
        for _ in range(rounds):
            sent = await self.dispatcher.run_once()
            total += sent
            if not sent:
                break
        return total

    async def say(self, body: str, **kw: Any) -> list[str]:
        """Text the bot, let the dispatcher run, return the new messages the phone got."""
        number = kw.get("from_", RESIDENT)
        before = len(self.api.bodies_to(number))
        response = await self.text(body, **kw)
        assert response.status_code == 200, response.text
        await self.deliver()
        return self.api.bodies_to(number)[before:]


@pytest.fixture
def fake_api() -> Iterator[FakeTwilioAPI]:
    with FakeTwilioAPI() as api:
        yield api


@pytest.fixture
def sms_settings(settings: Settings, fake_api: FakeTwilioAPI) -> Settings:
    return settings.model_copy(update={
        "public_url": PUBLIC_URL,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": OUR_NUMBER,
        "twilio_api_url": fake_api.url,
    })


@pytest.fixture
async def sms(db_engine: Engine, sms_settings: Settings, fake_api: FakeTwilioAPI,
              catalog: Any, clock: Any) -> AsyncIterator[SmsHarness]:
    from engage.runtime import Runtime

    runtime = Runtime(engine=db_engine, settings=sms_settings, catalog=catalog, clock=clock)
    sender = TwilioSender(sms_settings)
    dispatcher = Dispatcher(engine=db_engine, settings=sms_settings, senders={"sms": sender},
                            clock=clock, provider_opt_out=runtime.record_provider_opt_out,
                            rates={"sms": 0})
    app = create_app(sms_settings, engine=db_engine, runtime=runtime, dispatcher=dispatcher,
                     start_background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield SmsHarness(client, dispatcher, fake_api, sms_settings, db_engine, runtime)
    await sender.close()
    runtime.close()
