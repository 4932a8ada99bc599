"""Bad input to the webhooks gets a specific 4xx, never a 500 and never a stored message."""

from __future__ import annotations

import pytest
from sqlmodel import select

from engage.channels.sms import SIGNATURE_HEADER, sign
from engage.storage.db import session_scope
from engage.storage.tables import Message
from tests.fakes.twilio_api import AUTH_TOKEN
from tests.telegram.telegram_harness import (  # noqa: F401  (registers ``api`` and ``tg``)
    PATH,
    SECRET,
    Harness,
    api_fixture,
    tg_fixture,
)
from tests.web.conftest import PUBLIC_URL, SmsHarness

SMS_PATH = "/webhooks/twilio/sms"


def _inbound_count(sms: SmsHarness) -> int:
    with session_scope(sms.engine) as session:
        return len(list(session.exec(select(Message).where(Message.direction == "in"))))


@pytest.mark.parametrize("query", ["xbodySHA256=1", "bodySHA256", "a=1&xbodySHA256=2",
                                   "bodySHA256x=1"])
async def test_a_query_naming_bodysha256_only_as_a_substring_is_a_form(
        sms: SmsHarness, query: str) -> None:
    form = sms.form("Hello")
    response = await sms.client.post(f"{SMS_PATH}?{query}", data=form,
                                     headers={SIGNATURE_HEADER: "anything"})
    assert response.status_code == 403
    signed = sign(AUTH_TOKEN, f"{PUBLIC_URL}{SMS_PATH}?{query}", form)
    response = await sms.client.post(f"{SMS_PATH}?{query}", data=form,
                                     headers={SIGNATURE_HEADER: signed})
    assert response.status_code == 200  # a form signed over that URL is a form
    assert _inbound_count(sms) == 1


@pytest.mark.parametrize("sid", [
    "SM1", "0", "SMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "XX" + "0" * 32, "SM" + "0" * 31,
    "SM" + "0" * 33, "SM" + "g" * 32, " SM" + "0" * 32])
async def test_a_message_sid_that_twilio_cannot_have_made_is_refused(
        sms: SmsHarness, sid: str) -> None:
    """A captured signed request with another field's value moved into MessageSid stays
    validly signed; only the shape of a real sid tells it apart."""
    response = await sms.post(SMS_PATH, sms.form("Hello", sid=sid))
    assert response.status_code == 400
    assert _inbound_count(sms) == 0


@pytest.mark.parametrize("sid", ["SM" + "0123456789abcdef" * 2, "MM" + "f" * 32])
async def test_sms_and_mms_sids_are_accepted(sms: SmsHarness, sid: str) -> None:
    response = await sms.post(SMS_PATH, sms.form("Hello", sid=sid))
    assert response.status_code == 200
    assert _inbound_count(sms) == 1


async def test_telegram_body_over_the_cap_is_refused_413(tg: Harness) -> None:
    from engage.web.telegram_routes import MAX_BODY_BYTES, SECRET_HEADER

    body = b'{"update_id": 1, "pad": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}'
    response = await tg.client.post(PATH, content=body, headers={
        SECRET_HEADER: SECRET, "content-type": "application/json"})
    assert response.status_code == 413

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b"x" * 1024

    streamed = await tg.client.post(PATH, content=chunks(), headers={SECRET_HEADER: SECRET})
    assert streamed.status_code == 413


@pytest.mark.parametrize("depth", [50, 5_000, 100_000])
async def test_telegram_deeply_nested_json_is_400(tg: Harness, depth: int) -> None:
    from engage.web.telegram_routes import SECRET_HEADER

    for body in ("[" * depth + "]" * depth,
                 '{"update_id": 1, "message": ' + '{"a":' * depth + "1" + "}" * depth + "}"):
        response = await tg.client.post(PATH, content=body.encode(), headers={
            SECRET_HEADER: SECRET, "content-type": "application/json"})
        assert response.status_code in (400, 413)
        if len(body) < 200_000:
            assert response.status_code == 400
