"""End to end through HTTP: webhook -> aiogram Dispatcher -> runtime -> outbox -> dispatcher ->
TelegramSender -> fake Bot API on loopback. Real aiogram, real runtime, real database."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engage.channels.base import Inbound
from engage.channels.telegram import decode_callback
from engage.config import Settings
from engage.runtime import Runtime
from engage.storage.db import make_engine
from engage.storage.tables import ConsentEntry, Message, Run
from engage.telegram.texts import ALREADY_ANSWERED, ONLY_TEXT
from engage.web.app import create_app
from engage.web.telegram_routes import SECRET_HEADER
from tests.fakes.telegram_api import FakeTelegramAPI, Updates
from tests.telegram.telegram_harness import (
    CHAT,
    PATH,
    SECRET,
    Harness,
    api_fixture,  # noqa: F401  (registers the ``api`` fixture)
    telegram_settings,
    tg_fixture,  # noqa: F401  (registers the ``tg`` fixture)
)

EXPECTED = {
    "language": "en",
    "area": "Federal Hill",
    "safe_day": "4",
    "safe_night": "2",
    "trust_respect": "4",
    "trust_listen": "1",
    "contact_type": "called_for_help",
    "contact_satisfaction": "5",
    "safer": None,  # free text: stored scrubbed in Response.text, not as a value
    "age_band": "25-34",
    "race_ethnicity": "black",
}


async def test_whole_survey_by_buttons(tg: Harness) -> None:
    assert (await tg.say("/start")).status_code == 200
    pressed = []
    for label in ["Yes", "English"]:
        pressed.append(await tg.press(label))
    await tg.say("Federal Hill")  # free-text question: typed
    for label in ["4", "2", "4", "1", "Called for help", "5"]:
        pressed.append(await tg.press(label))
    await tg.say("More street lights on my block")
    for label in ["Yes", "25-34", "Black", "Yes"]:
        pressed.append(await tg.press(label))

    status, results = tg.results()
    assert status == "completed"
    assert results == EXPECTED
    # every press was answered, and its keyboard removed from that very message
    assert len(tg.api.calls_to("answerCallbackQuery")) == len(pressed)
    edits = tg.api.calls_to("editMessageReplyMarkup")
    assert [int(c.params["message_id"]) for c in edits] == [m["message_id"] for m in pressed]
    assert all("reply_markup" not in c.params for c in edits)
    # every keyboard the bot drew fits Telegram's callback_data limit and is engage's own
    for message in tg.api.messages:
        for row in message.get("reply_markup", {}).get("inline_keyboard", []):
            for button in row:
                assert len(button["callback_data"].encode()) <= 64
                assert decode_callback(button["callback_data"]) is not None
    assert tg.api.sent_texts(CHAT)[-1].startswith("Thank you!")


async def test_whole_survey_by_typed_answers(tg: Harness) -> None:
    replies = [
        "Hello",
        "yes",
        "1",
        "Federal Hill",
        "4",
        "2 - unsafe",
        "agree",
        "Strongly disagree",
        "called 911",
        "5",
        "More street lights on my block",
        "yes",
        "25-34",
        "black",
        "yes",
    ]
    for reply in replies:
        assert (await tg.say(reply)).status_code == 200
    status, results = tg.results()
    assert status == "completed"
    assert results == EXPECTED
    assert tg.api.calls_to("answerCallbackQuery") == []
    # questions still came with buttons, typing worked all the same
    assert any("reply_markup" in m for m in tg.api.messages)


@pytest.mark.parametrize(
    ("secret", "status"),
    [(None, 401), ("wrong-secret", 403), (SECRET + "x", 403), ("", 403)],
)
async def test_missing_or_wrong_secret_is_rejected(
    tg: Harness, secret: str | None, status: int
) -> None:
    response = await tg.post(tg.updates.text(CHAT, "/start"), secret=secret)
    assert response.status_code == status
    await tg.deliver()
    assert tg.participant() is None
    assert tg.api.calls == []


async def test_webhook_refuses_everything_without_a_configured_secret(
    api: FakeTelegramAPI, settings: Settings, db_engine: Engine, runtime: Runtime
) -> None:
    app = create_app(
        telegram_settings(settings, api, telegram_webhook_secret=None),
        engine=db_engine,
        runtime=runtime,
        start_background=False,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        payload = Updates().text(CHAT, "/start")
        for headers in ({}, {SECRET_HEADER: ""}, {SECRET_HEADER: "anything"}):
            assert (await client.post(PATH, json=payload, headers=headers)).status_code == 403
    with Session(db_engine) as session:
        assert session.exec(select(Message)).all() == []


async def test_repeated_update_id_gives_one_reply(tg: Harness) -> None:
    payload = tg.updates.text(CHAT, "Hello")
    assert (await tg.post(payload)).status_code == 200
    await tg.deliver()
    first = tg.api.sent_texts(CHAT)
    assert len(first) >= 1
    # Telegram redelivers: once more, then twice at the same time
    assert (await tg.post(payload)).status_code == 200
    again = await asyncio.gather(tg.post(payload), tg.post(payload))
    assert {r.status_code for r in again} <= {200, 503}  # 503 = "retry", never a lost update
    await tg.deliver()
    assert tg.api.sent_texts(CHAT) == first
    with Session(tg.engine) as session:
        inbound = session.exec(select(Message).where(Message.direction == "in")).all()
    assert len(inbound) == 1


async def test_outcomes_are_counted_in_metrics(tg: Harness) -> None:
    await tg.say("Hello")
    await tg.post(tg.updates.text(CHAT, "x"), secret="wrong")
    metrics = (await tg.client.get("/metrics")).text
    assert 'engage_inbound_total{channel="telegram",outcome="handled"} 1' in metrics
    assert 'engage_webhook_rejected_total{channel="telegram",reason="403"} 1' in metrics


async def test_repeated_button_press_is_answered_once(tg: Harness) -> None:
    await tg.say("/start")
    message = tg.api.last_message(CHAT)
    assert message is not None
    yes = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    press = tg.updates.press_on(message, yes)
    for _ in range(3):
        assert (await tg.post(press)).status_code == 200
    await tg.deliver()
    language_questions = [t for t in tg.api.sent_texts(CHAT) if "language" in t.lower()]
    assert len(language_questions) == 1


async def test_press_on_an_already_answered_keyboard_is_not_recorded(tg: Harness) -> None:
    await tg.say("/start")
    consent = tg.api.last_message(CHAT)
    assert consent is not None and "reply_markup" in consent
    await tg.say("yes")  # typed, the consent keyboard stays on screen
    await tg.press("English")
    await tg.say("Federal Hill")
    day = tg.api.last_message(CHAT)
    assert day is not None
    await tg.say("4")  # safe_day typed; its keyboard (1-5) stays on screen
    sent = len(tg.api.sent_texts(CHAT))
    # a press on the old safe_day keyboard must not become the safe_night answer
    tg.tick()
    old = [b for row in day["reply_markup"]["inline_keyboard"] for b in row]
    assert (await tg.post(tg.updates.press_on(day, old[0]["callback_data"]))).status_code == 200
    tg.tick()
    no = consent["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    assert (await tg.post(tg.updates.press_on(consent, no))).status_code == 200
    await tg.deliver()
    assert len(tg.api.sent_texts(CHAT)) == sent
    answers = tg.api.calls_to("answerCallbackQuery")
    assert [a.params.get("text") for a in answers[-2:]] == [ALREADY_ANSWERED["en"]] * 2
    edited = [int(c.params["message_id"]) for c in tg.api.calls_to("editMessageReplyMarkup")]
    assert day["message_id"] in edited and consent["message_id"] in edited
    status, results = tg.results()
    assert status == "waiting" and "safe_night" not in results and results["safe_day"] == "4"
    participant = tg.participant()
    assert participant is not None and participant.consent_surveys == "granted"
    await tg.press("2")  # the current keyboard still works
    assert tg.results()[1]["safe_night"] == "2"


async def test_help_does_not_retire_the_keyboard(tg: Harness) -> None:
    await tg.say("/start")
    await tg.say("/help")
    await tg.press("Yes")
    assert "language" in tg.api.sent_texts(CHAT)[-1].lower()


async def test_blocked_bot_records_an_opt_out(tg: Harness) -> None:
    await tg.say("/start")
    participant = tg.participant()
    assert participant is not None and not participant.opted_out
    tg.api.faults.blocked_chats.add(CHAT)
    await tg.say("yes")  # the reply to this one is refused with 403
    participant = tg.participant()
    assert participant is not None and participant.opted_out
    with Session(tg.engine) as session:
        entries = session.exec(
            select(ConsentEntry).where(ConsentEntry.participant_id == participant.id)
        ).all()
        assert any(e.status == "opted_out" and e.source == "telegram_blocked" for e in entries)
        run = session.exec(select(Run).where(Run.participant_id == participant.id)).one()
        assert run.status != "waiting"


async def test_block_notice_records_an_opt_out_before_any_send(tg: Harness) -> None:
    await tg.say("/start")
    sent_before = len(tg.api.sent_texts(CHAT))
    assert (await tg.post(tg.updates.blocked(CHAT))).status_code == 200
    await tg.deliver()
    participant = tg.participant()
    assert participant is not None and participant.opted_out
    assert len(tg.api.sent_texts(CHAT)) == sent_before


async def test_block_notice_from_a_stranger_creates_nothing(tg: Harness) -> None:
    assert (await tg.post(tg.updates.blocked(999))).status_code == 200
    assert tg.participant(999) is None


async def test_stop_help_delete_commands(tg: Harness) -> None:
    await tg.say("/start")
    await tg.say("/help")  # Telegram's help text, then the pending question again
    help_text, question = tg.api.sent_texts(CHAT)[-2:]
    assert "/stop" in help_text and "Reply YES to start" in question
    await tg.say("/stop")
    assert "unsubscribed" in tg.api.sent_texts(CHAT)[-1]
    participant = tg.participant()
    assert participant is not None and participant.opted_out
    count = len(tg.api.sent_texts(CHAT))
    await tg.say("yes")
    assert len(tg.api.sent_texts(CHAT)) == count  # silence after STOP
    await tg.say("/delete")
    assert "erased" in tg.api.sent_texts(CHAT)[-1]  # one confirmation, even after STOP
    erased = tg.participant()
    assert erased is None or (erased.address_enc is None and erased.erased_at is not None)


@pytest.mark.parametrize("kind", ["sticker", "photo", "voice"])
async def test_media_gets_one_polite_line_and_nothing_stored(tg: Harness, kind: str) -> None:
    response = await tg.post(getattr(tg.updates, kind)(CHAT))
    assert response.status_code == 200
    await tg.deliver()
    assert tg.api.sent_texts(CHAT) == [ONLY_TEXT["en"]]
    assert tg.participant() is None


async def test_other_updates_are_ignored_without_error(tg: Harness) -> None:
    await tg.say("Hello")
    before = tg.api.sent_texts(CHAT)
    for payload in [
        tg.updates.edited(CHAT, "changed my mind"),
        tg.updates.text(-100777, "hello bot", chat_type="supergroup"),
        tg.updates.sticker(-100777, chat_type="group"),
        {"update_id": 42},  # an update type this aiogram does not know
    ]:
        assert (await tg.post(payload)).status_code == 200
    await tg.deliver()
    assert tg.api.sent_texts(CHAT) == before
    assert tg.api.sent_texts(-100777) == []


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"update_id": "x"}', b"{}"])
async def test_garbled_body_is_rejected(tg: Harness, body: bytes) -> None:
    response = await tg.client.post(
        PATH, content=body, headers={SECRET_HEADER: SECRET, "content-type": "application/json"}
    )
    assert response.status_code == 400


async def test_database_down_answers_503_so_telegram_retries(
    api: FakeTelegramAPI, settings: Settings, catalog: Any, tmp_path: Any
) -> None:
    broken = make_engine(f"sqlite:///{tmp_path}/missing-dir/nothing-here/db.sqlite3")
    runtime = Runtime(engine=broken, settings=settings, catalog=catalog)
    app = create_app(
        telegram_settings(settings, api), engine=broken, runtime=runtime, start_background=False
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            PATH, json=Updates().text(CHAT, "Hello"), headers={SECRET_HEADER: SECRET}
        )
    await app.state.telegram_webhook.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"]


async def test_same_person_on_sms_and_telegram_is_two_participants(
    tg: Harness, runtime: Runtime, clock: Any
) -> None:
    await tg.say("Hello", chat=4105550123)
    runtime.handle_inbound(
        Inbound(
            channel="sms",
            address="+14105550123",
            text="Hello",
            provider_id="SM-two-channels",
            received_at=clock(),
        )
    )
    on_telegram = tg.participant(4105550123)
    on_sms = tg.participant("+14105550123", channel="sms")  # type: ignore[arg-type]
    assert on_telegram is not None and on_sms is not None
    assert on_telegram.id != on_sms.id and on_telegram.key != on_sms.key
