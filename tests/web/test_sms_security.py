"""Webhook authentication through HTTP: only requests Twilio signed for our public URL pass."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from sqlmodel import select

from engage.channels.sms import SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, sign
from engage.storage.db import session_scope
from engage.storage.tables import Message
from tests.fakes.twilio_api import AUTH_TOKEN
from tests.web.conftest import PUBLIC_URL, SmsHarness

SMS_PATH = "/webhooks/twilio/sms"


def _inbound_count(sms: SmsHarness) -> int:
    with session_scope(sms.engine) as session:
        return len(list(session.exec(select(Message).where(Message.direction == "in"))))


async def test_unsigned_request_is_refused(sms: SmsHarness) -> None:
    response = await sms.client.post(SMS_PATH, data=sms.form("Hello"))
    assert response.status_code == 403
    assert _inbound_count(sms) == 0


async def test_tampered_body_is_refused(sms: SmsHarness) -> None:
    form = sms.form("YES")
    signature = sign(AUTH_TOKEN, PUBLIC_URL + SMS_PATH, form)
    form["Body"] = "STOP"
    response = await sms.post(SMS_PATH, form, signature=signature)
    assert response.status_code == 403
    assert _inbound_count(sms) == 0


async def test_signature_with_the_wrong_token_is_refused(sms: SmsHarness) -> None:
    response = await sms.post(SMS_PATH, sms.form("Hi"), token="not-the-auth-token")
    assert response.status_code == 403


async def test_request_replayed_to_another_url_is_refused(sms: SmsHarness) -> None:
    # A request Twilio signed for another app's webhook is replayed at ours.
    other = "https://other-app.example.net" + SMS_PATH
    response = await sms.post(SMS_PATH, sms.form("Hi"), signed_url=other)
    assert response.status_code == 403
    # ... and our status webhook's signature is not valid for the SMS webhook either.
    status_url = PUBLIC_URL + "/webhooks/twilio/status"
    response = await sms.post(SMS_PATH, sms.form("Hi"), signed_url=status_url)
    assert response.status_code == 403
    assert _inbound_count(sms) == 0


async def test_signature_is_checked_against_the_public_url_not_the_request_host(
    sms: SmsHarness,
) -> None:
    # The test client talks to http://testserver (a proxy's view); Twilio signed PUBLIC_URL.
    ok = await sms.post(SMS_PATH, sms.form("Hi"))
    assert ok.status_code == 200
    form = sms.form("Hi")
    as_seen_by_proxy = await sms.post(SMS_PATH, form, signed_url="http://testserver" + SMS_PATH)
    assert as_seen_by_proxy.status_code == 403


async def test_valid_request_gets_empty_twiml(sms: SmsHarness) -> None:
    response = await sms.text("Hello")
    assert response.status_code == 200
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert response.headers["content-type"].startswith("application/xml")
    assert _inbound_count(sms) == 1


async def test_hmac_sha256_signature_variant(sms: SmsHarness) -> None:
    form = sms.form("Hello")
    url = PUBLIC_URL + SMS_PATH
    headers = {SIGNATURE_HEADER: sign(AUTH_TOKEN, url, form, "HMAC_SHA256"),
               SIGNATURE_SETTINGS_HEADER: "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"}
    response = await sms.client.post(SMS_PATH, data=form, headers=headers)
    assert response.status_code == 200
    headers[SIGNATURE_SETTINGS_HEADER] = "key=x,algorithm=HMAC_SHA1"
    refused = await sms.client.post(SMS_PATH, data=sms.form("Again"), headers=headers)
    assert refused.status_code == 403


async def test_body_sha256_json_variant(sms: SmsHarness) -> None:
    body = json.dumps(sms.form("Hello"))
    digest = hashlib.sha256(body.encode()).hexdigest()
    path = f"{SMS_PATH}?bodySHA256={digest}"
    signature = sign(AUTH_TOKEN, PUBLIC_URL + path, {})
    headers = {SIGNATURE_HEADER: signature, "Content-Type": "application/json"}
    response = await sms.client.post(path, content=body, headers=headers)
    assert response.status_code == 200
    assert _inbound_count(sms) == 1
    tampered = body.replace("Hello", "STOP!")
    refused = await sms.client.post(path, content=tampered, headers=headers)
    assert refused.status_code == 403


async def test_status_callback_requires_a_signature(sms: SmsHarness) -> None:
    form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    response = await sms.client.post("/webhooks/twilio/status", data=form)
    assert response.status_code == 403


async def test_rejections_are_counted_in_metrics(sms: SmsHarness) -> None:
    await sms.client.post(SMS_PATH, data=sms.form("Hello"))
    metrics = (await sms.client.get("/metrics")).text
    assert 'engage_webhook_rejected_total{channel="sms",reason="missing_signature"} 1' in metrics


async def test_a_repeated_field_is_signed_with_every_value(sms: SmsHarness) -> None:
    """Twilio signs every value of a repeated name; dropping or changing one is refused."""
    pairs = [*sms.form("Hi").items(), ("MediaUrl", "https://a.example/1"),
             ("MediaUrl", "https://a.example/2")]

    class Multi(dict[str, str]):
        def getall(self, name: str) -> list[str]:
            return [v for k, v in pairs if k == name]

    signature = sign(AUTH_TOKEN, PUBLIC_URL + SMS_PATH, Multi(pairs))
    headers = {SIGNATURE_HEADER: signature,
               "Content-Type": "application/x-www-form-urlencoded"}
    body = httpx.QueryParams(pairs)
    assert (await sms.client.post(SMS_PATH, content=str(body), headers=headers)).status_code == 200
    dropped = httpx.QueryParams(pairs[:-1])
    response = await sms.client.post(SMS_PATH, content=str(dropped), headers=headers)
    assert response.status_code == 403


async def test_only_post_is_served(sms: SmsHarness) -> None:
    response = await sms.client.get(SMS_PATH)
    assert response.status_code == 405 and response.headers["allow"] == "POST"


async def test_an_oversized_body_is_refused_unread(sms: SmsHarness) -> None:
    form = sms.form("x" * 70_000)
    response = await sms.post(SMS_PATH, form)
    assert response.status_code == 413
    assert _inbound_count(sms) == 0
    metrics = (await sms.client.get("/metrics")).text
    assert 'engage_webhook_rejected_total{channel="sms",reason="too_large"} 1' in metrics


async def test_a_form_with_too_many_fields_is_malformed(sms: SmsHarness) -> None:
    form = sms.form("Hi") | {f"X{i}": "1" for i in range(200)}
    response = await sms.post(SMS_PATH, form)
    assert response.status_code == 400
    assert _inbound_count(sms) == 0


async def test_an_unexpected_failure_answers_500_so_twilio_retries(
        sms: SmsHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    from engage.web import sms_webhook

    async def broken(runtime: object, inbound: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(sms_webhook, "_hand_over", broken)
    response = await sms.post(SMS_PATH, sms.form("Hi"))
    assert response.status_code == 500


async def test_an_oversized_status_callback_is_refused_too(sms: SmsHarness) -> None:
    form = {"MessageSid": "SM1", "MessageStatus": "delivered", "Pad": "x" * 70_000}
    response = await sms.post("/webhooks/twilio/status", form)
    assert response.status_code == 413
