"""Twilio adapter: signatures (SHA-1 form, SHA-256 algorithm, bodySHA256), parsing, and the
real twilio Client sending to the loopback fake REST API."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engage.channels.base import Outbound
from engage.channels.sms import (
    ApiUrlHttpClient,
    MalformedWebhook,
    TwilioSender,
    parse_inbound,
    public_url_for,
    sign,
    signature_valid,
)
from engage.config import Settings
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioAPI

URL = "https://engage.example.org/webhooks/twilio/sms"
SID = "SM" + "0" * 31 + "1"
FORM = {"From": "+14105550123", "To": "+14435550000", "Body": "Hi", "MessageSid": SID,
        "NumMedia": "0"}


def test_valid_sha1_signature_accepted_and_tampering_rejected() -> None:
    sig = sign(AUTH_TOKEN, URL, FORM)
    assert signature_valid(token=AUTH_TOKEN, url=URL, params=FORM, signature=sig)
    tampered = dict(FORM, Body="Hi!")
    assert not signature_valid(token=AUTH_TOKEN, url=URL, params=tampered, signature=sig)
    other_url = "https://evil.example.org/webhooks/twilio/sms"
    assert not signature_valid(token=AUTH_TOKEN, url=other_url, params=FORM, signature=sig)
    assert not signature_valid(token="other", url=URL, params=FORM, signature=sig)
    assert not signature_valid(token=AUTH_TOKEN, url=URL, params=FORM, signature=None)
    assert not signature_valid(token=None, url=URL, params=FORM, signature=sig)


def test_a_signature_over_the_url_with_its_default_port_still_validates() -> None:
    """The quick check covers the URL as configured; twilio's own validate() still runs
    after it, so Twilio's with-port variant is accepted as before, and an unknown algorithm
    is refused (not raised)."""
    with_port = URL.replace("engage.example.org", "engage.example.org:443")
    sig = sign(AUTH_TOKEN, with_port, FORM)
    assert signature_valid(token=AUTH_TOKEN, url=URL, params=FORM, signature=sig)
    assert not signature_valid(token=AUTH_TOKEN, url=URL, params=FORM, signature=sig,
                               signature_settings="algorithm=HMAC_MD5")


def test_a_signed_form_signs_every_value_of_a_repeated_name() -> None:
    from engage.channels.sms import SignedForm
    from engage.web.twilio_signed import decode_form

    form = decode_form(b"Body=%C2%BFC%C3%B3mo+est%C3%A1%3F&MediaUrl=a&MediaUrl=b&From=%2B1")
    assert isinstance(form, SignedForm)
    assert form["Body"] == "\u00bfC\u00f3mo est\u00e1?" and form["From"] == "+1"
    assert form.getall("MediaUrl") == ["a", "b"] and form["MediaUrl"] == "b"
    sig = sign(AUTH_TOKEN, URL, form)
    assert signature_valid(token=AUTH_TOKEN, url=URL, params=form, signature=sig)
    one_value = SignedForm([("Body", form["Body"]), ("MediaUrl", "a"), ("From", "+1")])
    assert not signature_valid(token=AUTH_TOKEN, url=URL, params=one_value, signature=sig)


def test_hmac_sha256_signature_named_by_settings_header() -> None:
    sig = sign(AUTH_TOKEN, URL, FORM, "HMAC_SHA256")
    header = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    assert signature_valid(token=AUTH_TOKEN, url=URL, params=FORM, signature=sig,
                           signature_settings=header)
    # the same signature is not a valid SHA-1 signature
    assert not signature_valid(token=AUTH_TOKEN, url=URL, params=FORM, signature=sig)


def test_body_sha256_variant_for_json_bodies() -> None:
    body = json.dumps({"event": "x"})
    digest = hashlib.sha256(body.encode()).hexdigest()
    url = f"{URL}?bodySHA256={digest}"
    sig = sign(AUTH_TOKEN, url, {})
    assert signature_valid(token=AUTH_TOKEN, url=url, params=body, signature=sig)
    assert not signature_valid(token=AUTH_TOKEN, url=url, params=body + " ", signature=sig)


def test_public_url_is_used_not_the_request_host(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, ENGAGE_DATA_DIR=str(tmp_path),  # type: ignore[call-arg]
                        ENGAGE_PUBLIC_URL="https://engage.example.org/")
    assert public_url_for(settings, "/webhooks/twilio/sms") == URL
    assert public_url_for(settings, "/x", "a=1") == "https://engage.example.org/x?a=1"


def test_parse_inbound() -> None:
    now = datetime(2026, 7, 1, tzinfo=UTC)
    inbound = parse_inbound(dict(FORM, NumMedia="2"), received_at=now)
    assert (inbound.channel, inbound.address, inbound.text) == ("sms", "+14105550123", "Hi")
    assert (inbound.provider_id, inbound.media_count) == (SID, 2)
    with pytest.raises(MalformedWebhook):
        parse_inbound({"Body": "x"}, received_at=now)


def test_http_client_rewrites_only_scheme_and_host() -> None:
    client = ApiUrlHttpClient("http://127.0.0.1:9999/prefix")
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert client.rewrite(url) == (
        f"http://127.0.0.1:9999/prefix/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    )


@pytest.fixture
def fake_api() -> FakeTwilioAPI:
    with FakeTwilioAPI() as api:
        yield api


def _settings(tmp_path: Path, api: FakeTwilioAPI, **extra: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        ENGAGE_DATA_DIR=str(tmp_path),
        ENGAGE_PUBLIC_URL="https://engage.example.org",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        ENGAGE_TWILIO_API_URL=api.url,
        **({"TWILIO_FROM_NUMBER": "+14435550000"} | extra),
    )


def _out(text: str = "Hello", to: str = "+14105550123") -> Outbound:
    return Outbound(outbox_id=7, channel="sms", address=to, text=text)


async def test_sender_posts_through_the_real_client(
    tmp_path: Path, fake_api: FakeTwilioAPI
) -> None:
    sender = TwilioSender(_settings(tmp_path, fake_api))
    try:
        result = await sender.send(_out("¿Cómo está?"))
    finally:
        await sender.close()
    assert result.ok and result.provider_id and result.provider_id.startswith("SM")
    assert (result.status, result.encoding, result.segments) == ("queued", "UCS-2", 1)
    [msg] = fake_api.messages
    assert (msg.to, msg.body, msg.from_) == ("+14105550123", "¿Cómo está?", "+14435550000")
    assert msg.status_callback == "https://engage.example.org/webhooks/twilio/status"
    assert msg.smart_encoded == "true"


async def test_messaging_service_sid_is_used_when_set(tmp_path: Path,
                                                      fake_api: FakeTwilioAPI) -> None:
    settings = _settings(tmp_path, fake_api, TWILIO_FROM_NUMBER="",
                         TWILIO_MESSAGING_SERVICE_SID="MG" + "1" * 32)
    sender = TwilioSender(settings)
    try:
        assert (await sender.send(_out())).ok
    finally:
        await sender.close()
    assert fake_api.messages[0].messaging_service_sid == "MG" + "1" * 32
    assert fake_api.messages[0].from_ is None


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_transient_failures_are_retryable(tmp_path: Path, fake_api: FakeTwilioAPI,
                                                status: int) -> None:
    fake_api.faults.statuses.append(status)
    sender = TwilioSender(_settings(tmp_path, fake_api))
    try:
        result = await sender.send(_out())
    finally:
        await sender.close()
    assert not result.ok and not result.permanent and result.retry_after
    assert "+1410" not in (result.error or "")


async def test_unsubscribed_recipient_is_an_opt_out(
    tmp_path: Path, fake_api: FakeTwilioAPI
) -> None:
    fake_api.faults.unsubscribed.add("+14105550123")
    sender = TwilioSender(_settings(tmp_path, fake_api))
    try:
        result = await sender.send(_out())
    finally:
        await sender.close()
    assert (result.ok, result.permanent, result.opted_out, result.error_code) == (
        False, True, True, "21610")


async def test_other_4xx_is_permanent(tmp_path: Path, fake_api: FakeTwilioAPI) -> None:
    settings = _settings(tmp_path, fake_api)
    settings.twilio_auth_token = "wrong-token"
    sender = TwilioSender(settings)
    try:
        result = await sender.send(_out())
    finally:
        await sender.close()
    assert (result.ok, result.permanent, result.opted_out) == (False, True, False)
    assert result.error_code == "20003"


async def test_timeout_is_retryable(tmp_path: Path, fake_api: FakeTwilioAPI) -> None:
    fake_api.faults.stall_seconds.append(2.0)
    sender = TwilioSender(_settings(tmp_path, fake_api),
                          http_client=ApiUrlHttpClient(fake_api.url, timeout=0.2))
    try:
        result = await sender.send(_out())
    finally:
        await sender.close()
    assert not result.ok and not result.permanent and result.retry_after
    assert result.error == "transport: TimeoutError"


async def test_long_body_is_sent_in_parts(tmp_path: Path, fake_api: FakeTwilioAPI) -> None:
    text = " ".join(["survey"] * 400)  # 2,799 chars
    sender = TwilioSender(_settings(tmp_path, fake_api))
    try:
        result = await sender.send(_out(text))
    finally:
        await sender.close()
    assert result.ok
    bodies = [m.body for m in fake_api.messages]
    assert len(bodies) == 2 and " ".join(bodies) == text
    assert all(len(b) <= 1600 for b in bodies)


async def test_long_body_failing_midway_is_not_resent(tmp_path: Path,
                                                      fake_api: FakeTwilioAPI) -> None:
    text = " ".join(["survey"] * 400)
    sender = TwilioSender(_settings(tmp_path, fake_api))
    try:
        first = await sender.send(_out(text))
        fake_api.faults.statuses.extend([201, 500])  # first part accepted, second refused
        fake_api.messages.clear()
        result = await sender.send(_out(text))
    finally:
        await sender.close()
    assert first.ok
    assert not result.ok and result.permanent and result.retry_after is None
    assert result.error and result.error.startswith("sent 1 of 2 parts")
