"""Delivery semantics through HTTP: retried webhooks, keywords, provider failures, opt-outs
and delivery status callbacks. Outbound goes through the real twilio Client to the fake API."""

from __future__ import annotations

import asyncio
import random

import httpx
from sqlmodel import select

from engage.errors import RetryableError
from engage.storage.db import session_scope
from engage.storage.tables import ConsentEntry, Message, Outbox, Participant
from tests.web.conftest import RESIDENT, SmsHarness

STATUS_PATH = "/webhooks/twilio/status"


async def test_same_webhook_three_times_gives_one_reply(sms: SmsHarness) -> None:
    form = sms.form("Hello")
    answers = [await sms.post("/webhooks/twilio/sms", form) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    await sms.deliver()
    assert len(sms.api.bodies_to(RESIDENT)) == 1


async def test_same_webhook_three_times_concurrently_gives_one_reply(sms: SmsHarness) -> None:
    form = sms.form("Hello")
    answers = await asyncio.gather(*(sms.post("/webhooks/twilio/sms", form) for _ in range(3)))
    # a delivery that lost the race may be asked to retry (503); a retry then finds it done
    for answer in answers:
        if answer.status_code == 503:
            assert (await sms.post("/webhooks/twilio/sms", form)).status_code == 200
        else:
            assert answer.status_code == 200
    await sms.deliver()
    assert len(sms.api.bodies_to(RESIDENT)) == 1
    with session_scope(sms.engine) as session:
        inbound = session.exec(select(Message).where(Message.direction == "in")).all()
    assert len(inbound) == 1


async def test_stop_gives_one_confirmation_then_silence(sms: SmsHarness) -> None:
    await sms.say("Hello")
    await sms.say("YES")
    [confirmation] = await sms.say("STOP")
    assert "unsubscribed" in confirmation
    for text in ["1", "Hello", "YES", "What?"]:
        assert await sms.say(text) == []
    assert [m for m in await sms.say("STOP")] in ([], [confirmation])  # never a conversation


async def test_help_answers_with_contact_and_stop(sms: SmsHarness) -> None:
    [reply] = await sms.say("HELP")
    assert "STOP" in reply and sms.settings.contact in reply


async def test_delete_erases_and_confirms(sms: SmsHarness) -> None:
    await sms.say("Hello")
    await sms.say("YES")
    [confirmation] = await sms.say("DELETE")
    assert "erased" in confirmation
    with session_scope(sms.engine) as session:
        participants = session.exec(select(Participant)).all()
        assert all(p.address_enc is None for p in participants)
        rows = session.exec(select(Outbox)).all()
        assert all(r.address_enc is None for r in rows)  # the confirmation's copy is gone


async def test_media_gets_a_polite_note(sms: SmsHarness) -> None:
    [note] = await sms.say("", media=1)
    assert "only read text" in note


async def test_provider_500_then_201_gives_one_delivered_message(sms: SmsHarness,
                                                                 clock: object) -> None:
    sms.api.faults.statuses.append(500)
    response = await sms.text("Hello")
    assert response.status_code == 200
    await sms.deliver()
    assert sms.api.bodies_to(RESIDENT) == []
    with session_scope(sms.engine) as session:
        [row] = session.exec(select(Outbox)).all()
    assert (row.status, row.attempts) == ("pending", 1)
    clock.advance(minutes=5)  # type: ignore[attr-defined]
    await sms.deliver()
    assert len(sms.api.bodies_to(RESIDENT)) == 1
    [sent] = sms.api.messages
    await sms.post(STATUS_PATH, {"MessageSid": sent.sid, "MessageStatus": "delivered"})
    with session_scope(sms.engine) as session:
        row = session.exec(select(Outbox)).one()
        out = session.exec(select(Message).where(Message.direction == "out")).all()
    assert (row.status, row.attempts, row.provider_id) == ("sent", 2, sent.sid)
    assert [(m.status, m.provider_id) for m in out] == [("delivered", sent.sid)]
    assert sms.api.requests == 2


async def test_21610_records_an_opt_out(sms: SmsHarness) -> None:
    sms.api.faults.unsubscribed.add(RESIDENT)
    await sms.text("Hello")
    await sms.deliver()
    with session_scope(sms.engine) as session:
        participant = session.exec(select(Participant)).one()
        assert participant.opted_out
        entries = session.exec(select(ConsentEntry).where(
            ConsentEntry.participant_id == participant.id, ConsentEntry.status == "opted_out"))
        assert [e.source for e in entries] == ["twilio_21610"]
    assert await sms.say("YES") == []  # nothing more is sent


async def test_status_callbacks_in_random_order_only_move_forward(sms: SmsHarness) -> None:
    await sms.say("Hello")
    [sent] = sms.api.messages
    rng = random.Random(7)
    for _ in range(5):
        order = ["queued", "sending", "sent", "delivered", "sent", "delivered", "queued"]
        rng.shuffle(order)
        for status in order:
            answer = await sms.post(STATUS_PATH, {"MessageSid": sent.sid,
                                                  "MessageStatus": status})
            assert answer.status_code == 204
    with session_scope(sms.engine) as session:
        out = session.exec(select(Message).where(Message.provider_id == sent.sid)).one()
    assert out.status == "delivered"


async def test_terminal_failure_status_sticks_and_unknown_sids_are_ignored(
    sms: SmsHarness,
) -> None:
    await sms.say("Hello")
    [sent] = sms.api.messages
    await sms.post(STATUS_PATH, {"MessageSid": sent.sid, "MessageStatus": "undelivered",
                                 "ErrorCode": "30003"})
    await sms.post(STATUS_PATH, {"MessageSid": sent.sid, "MessageStatus": "sent"})
    await sms.post(STATUS_PATH, {"MessageSid": sent.sid, "MessageStatus": "delivered"})
    ok = await sms.post(STATUS_PATH, {"MessageSid": "SMunknown", "MessageStatus": "delivered"})
    assert ok.status_code == 204
    with session_scope(sms.engine) as session:
        out = session.exec(select(Message).where(Message.provider_id == sent.sid)).one()
    assert (out.status, out.error_code) == ("undelivered", "30003")


async def test_status_callback_21610_records_an_opt_out(sms: SmsHarness) -> None:
    await sms.say("Hello")
    [sent] = sms.api.messages
    await sms.post(STATUS_PATH, {"MessageSid": sent.sid, "MessageStatus": "undelivered",
                                 "ErrorCode": "21610"})
    with session_scope(sms.engine) as session:
        assert session.exec(select(Participant)).one().opted_out


async def test_database_trouble_answers_503_so_twilio_retries(sms: SmsHarness) -> None:
    app = sms.client._transport.app  # type: ignore[attr-defined]
    runtime = app.state.runtime

    class Down:
        def handle_inbound(self, inbound: object) -> object:
            raise RetryableError("database unavailable: OperationalError")

    app.state.runtime = Down()
    form = sms.form("Hello")
    try:
        busy = await sms.post("/webhooks/twilio/sms", form)
    finally:
        app.state.runtime = runtime
    assert busy.status_code == 503 and busy.headers["retry-after"]
    assert (await sms.post("/webhooks/twilio/sms", form)).status_code == 200  # Twilio retries
    await sms.deliver()
    assert len(sms.api.bodies_to(RESIDENT)) == 1


async def test_health_readiness_and_metrics(sms: SmsHarness) -> None:
    assert (await sms.client.get("/healthz")).json() == {"status": "ok"}
    assert (await sms.client.get("/readyz")).status_code == 200
    await sms.say("Hello")
    text = (await sms.client.get("/metrics")).text
    assert 'engage_inbound_total{channel="sms",outcome="handled"} 1' in text
    assert "engage_outbound_sent_total 1" in text
    assert 'engage_outbox_rows{status="sent"} 1' in text
    assert "# TYPE engage_inbound_total counter" in text


async def test_dev_outbox_endpoint_is_absent_when_twilio_is_configured(sms: SmsHarness) -> None:
    response = await sms.client.get("/dev/outbox", params={"to": RESIDENT})
    assert response.status_code == 404
    assert isinstance(sms.client, httpx.AsyncClient)
