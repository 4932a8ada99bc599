"""Property: no input to either webhook yields a 500. Random bytes, random forms (signed, so
they reach the parser and the runtime), random query strings and random JSON up to a depth
and size go to the real app (real signature check, aiogram, runtime, database)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

with warnings.catch_warnings():  # starlette's own notice about httpx; TestClient is what we use
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from engage.channels.sms import SIGNATURE_HEADER, sign
from engage.config import Settings
from engage.runtime import Runtime
from engage.web.app import create_app
from engage.web.telegram_routes import SECRET_HEADER
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN
from tests.telegram.telegram_harness import SECRET, TOKEN

# starlette's TestClient keeps one event loop for the whole test (aiogram's Bot lives in it)
PUBLIC_URL = "https://engage.example.org"
SMS = "/webhooks/twilio/sms"
TG = "/webhooks/telegram"
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture
def client(settings: Settings, db_engine: Engine, catalog: Any,
           clock: Any) -> Iterator[TestClient]:
    with FakeTelegramAPI() as api:
        configured = settings.model_copy(update={
            "public_url": PUBLIC_URL, "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN, "twilio_from_number": "+14435550000",
            "telegram_bot_token": TOKEN, "telegram_webhook_secret": SECRET,
            "telegram_api_url": api.url})
        runtime = Runtime(engine=db_engine, settings=configured, catalog=catalog, clock=clock)
        app = create_app(configured, engine=db_engine, runtime=runtime, start_background=False)
        with TestClient(app, raise_server_exceptions=False) as test_client:
            yield test_client
        runtime.close()


_text = st.text(max_size=60)
_EXTRA_FIELDS = ["SmsSid", "AccountSid", "MediaUrl0", "bodySHA256", "MessageStatus"]
_sid = st.one_of(st.from_regex(r"\A(SM|MM)[0-9a-f]{32}\Z"), _text)
_phone = st.one_of(st.from_regex(r"\A\+1410555[0-9]{4}\Z"), _text)
_forms = st.fixed_dictionaries(
    {"MessageSid": _sid, "From": _phone, "To": st.just("+14435550000"),
     "Body": st.text(max_size=300), "NumMedia": st.one_of(st.just("0"), _text)},
    optional={name: _text for name in _EXTRA_FIELDS})
_queries = st.one_of(st.just(""), st.sampled_from(["xbodySHA256=1", "bodySHA256=",
                                                   "bodySHA256", "a=1&bodySHA256=x"]),
                     st.text(max_size=40).map(lambda q: urlencode({"q": q})))
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | _text,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["update_id", "message", "text", "chat", "id", "from",
                                       "date", "callback_query", "data", "type"]) | _text,
                      children, max_size=4),
    max_leaves=30)
_updates = st.fixed_dictionaries({
    "update_id": st.integers(min_value=-5, max_value=2**40),
    "message": st.fixed_dictionaries({
        "message_id": st.integers(min_value=0, max_value=2**31),
        "date": st.integers(min_value=0, max_value=2**31),
        "chat": st.fixed_dictionaries({"id": st.integers(-2**40, 2**40),
                                       "type": st.sampled_from(["private", "group", "x"])}),
        "text": st.text(max_size=300)},
        optional={"from": _json, "entities": _json, "reply_markup": _json})})


@FUZZ
@given(body=st.binary(max_size=2000), query=_queries, signed=st.booleans())
def test_sms_webhook_random_bytes_never_500(client: TestClient, body: bytes, query: str,
                                            signed: bool) -> None:
    url = SMS + (f"?{query}" if query else "")
    signature = sign(AUTH_TOKEN, PUBLIC_URL + url, {}) if signed else "x"
    response = client.post(url, content=body, headers={
        SIGNATURE_HEADER: signature, "content-type": "application/x-www-form-urlencoded"})
    assert response.status_code < 500


@FUZZ
@given(form=_forms, query=_queries)
def test_sms_webhook_signed_random_forms_never_500(client: TestClient, form: dict[str, str],
                                                   query: str) -> None:
    url = SMS + (f"?{query}" if query else "")
    response = client.post(url, data=form, headers={
        SIGNATURE_HEADER: sign(AUTH_TOKEN, PUBLIC_URL + url, form)})
    assert response.status_code < 500


@FUZZ
@given(body=st.one_of(st.binary(max_size=2000), _json.map(lambda v: json.dumps(v).encode())))
def test_telegram_webhook_random_bodies_never_500(client: TestClient, body: bytes) -> None:
    response = client.post(TG, content=body, headers={SECRET_HEADER: SECRET,
                                                       "content-type": "application/json"})
    assert response.status_code < 500


@FUZZ
@given(update=_updates)
def test_telegram_webhook_update_shaped_json_never_500(client: TestClient,
                                                       update: dict[str, Any]) -> None:
    response = client.post(TG, content=json.dumps(update).encode(),
                           headers={SECRET_HEADER: SECRET, "content-type": "application/json"})
    assert response.status_code < 500
