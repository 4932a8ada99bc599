"""Telegram as a resident meets it (issue 21), end to end through the webhook: real aiogram,
runtime, database and dispatcher; only the Bot API is the fake on loopback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlmodel import Session, select

from engage.channels.telegram_updates import UpdateContextMiddleware
from engage.runtime import Runtime
from engage.storage.tables import Participant, Run
from engage.telegram.chat_order import ChatLocks
from engage.telegram.multi_select import TICK
from engage.telegram.texts import ALREADY_ANSWERED, CHOOSE_FIRST, ONLY_TEXT, UNKNOWN_COMMAND
from tests.telegram.telegram_harness import (
    CHAT,
    Harness,
    api_fixture,  # noqa: F401  (registers the ``api`` fixture)
    tg_fixture,  # noqa: F401  (registers the ``tg`` fixture)
)
from tests.telegram.test_telegram_links import add_campaign, add_session, code_for


def run_state(tg: Harness, chat: int = CHAT) -> dict[str, Any]:
    """The engine state of the resident's newest run (results even without consent)."""
    participant = tg.participant(chat)
    assert participant is not None
    with Session(tg.engine) as session:
        run = session.exec(
            select(Run).where(Run.participant_id == participant.id).order_by(Run.id.desc())  # type: ignore[union-attr]
        ).first()
        assert run is not None
        return dict(json.loads(run.state), run_status=run.status)


def labels(message: dict[str, Any]) -> list[str]:
    return [b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", [])
            for b in row]


async def press_on(tg: Harness, message: dict[str, Any], label: str) -> None:
    """Press ``label`` on a given (maybe old) message, as it is shown now."""
    current = next(m for m in tg.api.messages if m["message_id"] == message["message_id"])
    buttons = [b for row in current.get("reply_markup", message["reply_markup"])["inline_keyboard"]
               for b in row]
    (button,) = [b for b in buttons if b["text"].removeprefix(TICK) == label
                 or b["text"].startswith(f"{label} - ")]
    tg.tick()
    payload = tg.updates.press_on(current if "reply_markup" in current else message,
                                  button["callback_data"])
    assert (await tg.post(payload)).status_code == 200
    await tg.deliver()


async def to_needs_question(tg: Harness, clock: Any, chat: int = CHAT) -> dict[str, Any]:
    session_id = add_session(tg, clock())
    await tg.say(f"/start {code_for(tg, 'session', session_id, clock())}", chat=chat)
    await tg.press("Yes", chat=chat)
    needs = tg.api.last_message(chat)
    assert needs is not None and "all that apply" in needs["text"]
    return needs


# -- 1. "all that apply" by buttons ---------------------------------------------------------


async def test_needs_question_toggles_options_and_done_records_all(
    tg: Harness, clock: Any
) -> None:
    needs = await to_needs_question(tg, clock)
    assert labels(needs) == ["Childcare", "Interpretation", "A ride", "None", "Done"]
    await press_on(tg, needs, "Childcare")
    await press_on(tg, needs, "A ride")
    shown = tg.api.last_message(CHAT)
    assert shown is not None and shown["message_id"] == needs["message_id"]  # nothing new sent
    assert labels(shown) == [f"{TICK}Childcare", "Interpretation", f"{TICK}A ride", "None",
                             "Done"]
    assert "needs" not in run_state(tg)["results"]  # a tick is not an answer yet
    await press_on(tg, needs, "Done")
    state = run_state(tg)
    assert state["results"]["needs"] == "childcare,ride"
    assert state["run_status"] == "completed"
    assert tg.api.sent_texts(CHAT)[-1].startswith("Thank you!")
    assert "reply_markup" not in tg.api.messages[-2]  # the answered keyboard is gone


async def test_untick_exclusive_option_and_done_with_nothing(tg: Harness, clock: Any) -> None:
    needs = await to_needs_question(tg, clock)
    await press_on(tg, needs, "Done")  # nothing ticked: told what to do, nothing recorded
    assert tg.api.calls_to("answerCallbackQuery")[-1].params["text"] == CHOOSE_FIRST["en"]
    await press_on(tg, needs, "Childcare")
    await press_on(tg, needs, "Interpretation")
    await press_on(tg, needs, "Interpretation")  # pressed again: unticked
    await press_on(tg, needs, "None")  # exclusive: clears the others
    assert labels(tg.api.messages[-1]) == ["Childcare", "Interpretation", "A ride",
                                           f"{TICK}None", "Done"]
    await press_on(tg, needs, "A ride")  # and ticking another clears "None"
    await press_on(tg, needs, "Done")
    assert run_state(tg)["results"]["needs"] == "ride"


async def test_needs_typed_still_works(tg: Harness, clock: Any) -> None:
    await to_needs_question(tg, clock)
    await tg.say("1 3")
    assert run_state(tg)["results"]["needs"] == "childcare,ride"


async def test_quick_toggles_both_count(tg: Harness, clock: Any) -> None:
    """Two presses whose snapshots both predate the first redraw still both tick."""
    needs = await to_needs_question(tg, clock)
    buttons = {b["text"]: b["callback_data"] for row in needs["reply_markup"]["inline_keyboard"]
               for b in row}
    first = tg.updates.press_on(needs, buttons["Childcare"])
    second = tg.updates.press_on(needs, buttons["Interpretation"])
    for payload in (first, second):
        assert (await tg.post(payload)).status_code == 200
    await press_on(tg, needs, "Done")
    assert run_state(tg)["results"]["needs"] == "childcare,interpretation"


# -- 3. language ---------------------------------------------------------------------------


async def test_link_from_a_spanish_app_is_answered_in_spanish(tg: Harness, clock: Any) -> None:
    session_id = add_session(tg, clock())
    code = code_for(tg, "session", session_id, clock())
    tg.tick()
    await tg.post(tg.updates.text(CHAT, f"/start {code}", language="es"))
    campaign_id = add_campaign(tg, clock())
    tg.tick()
    campaign_code = code_for(tg, "campaign", campaign_id, clock())
    await tg.post(tg.updates.text(CHAT + 1, f"/start {campaign_code}", language="es-MX"))
    await tg.deliver()
    (invite,) = tg.api.sent_texts(CHAT)
    # 2026-07-06 16:00 UTC is noon in Baltimore
    assert invite.startswith("Le invitamos: Federal Hill listening session, lunes 6 de julio, "
                             "12:00 p. m. en Library, 1 Main St.")
    assert "Mon" not in invite and "PM" not in invite
    assert tg.api.sent_texts(CHAT + 1)[0].startswith("Encuesta de seguridad de Baltimore")
    participant = tg.participant(CHAT)
    assert participant is not None and participant.language == "es"


async def test_system_lines_follow_the_language_the_resident_chose(tg: Harness) -> None:
    await tg.say("/start")  # Telegram app in English
    await tg.press("Yes")
    await tg.press("Español")  # chooses Spanish
    await tg.say("/frobnicate")
    assert tg.api.sent_texts(CHAT)[-1] == UNKNOWN_COMMAND["es"]
    tg.tick()
    await tg.post(tg.updates.sticker(CHAT))
    await tg.deliver()
    assert tg.api.sent_texts(CHAT)[-1] == ONLY_TEXT["es"]
    consent = tg.api.messages[0]
    tg.tick()
    await tg.post(tg.updates.press_on(consent, "1=no"))  # an old keyboard
    await tg.deliver()
    assert tg.api.calls_to("answerCallbackQuery")[-1].params["text"] == ALREADY_ANSWERED["es"]
    # a stranger gets their app's language, else English
    await tg.post(tg.updates.text(CHAT + 5, "/what", language="es"))
    await tg.post(tg.updates.text(CHAT + 6, "/what", language=None))
    assert tg.api.sent_texts(CHAT + 5) == [UNKNOWN_COMMAND["es"]]
    assert tg.api.sent_texts(CHAT + 6) == [UNKNOWN_COMMAND["en"]]


async def test_consent_offers_spanish_as_a_button(tg: Harness) -> None:
    await tg.say("/start")
    consent = tg.api.last_message(CHAT)
    assert consent is not None and labels(consent) == ["Yes", "No", "Español"]
    await tg.press("Español")
    again = tg.api.last_message(CHAT)
    assert again is not None and again["text"].startswith("Encuesta de seguridad de Baltimore")
    assert labels(again) == ["Sí", "No", "English"]
    await tg.press("Sí")
    state = run_state(tg)
    assert state["language"] == "es" and state["consents"] == {"surveys": "granted"}


# -- 4. old keyboards ----------------------------------------------------------------------


async def test_keyword_answer_retires_the_keyboard(tg: Harness) -> None:
    await tg.say("/start")
    await tg.press("Yes")
    language = tg.api.last_message(CHAT)
    assert language is not None
    await tg.say("/language en")  # answers the language question by a keyword
    assert run_state(tg)["node"] == "area"
    sent = len(tg.api.sent_texts(CHAT))
    await press_on(tg, language, "Español")  # the old button must not answer "area"
    assert len(tg.api.sent_texts(CHAT)) == sent
    assert tg.api.calls_to("answerCallbackQuery")[-1].params["text"] == ALREADY_ANSWERED["en"]
    state = run_state(tg)
    assert state["node"] == "area" and state["language"] == "en" and "area" not in state["results"]


async def test_campaign_run_retires_the_old_keyboards(
    tg: Harness, runtime: Runtime, clock: Any
) -> None:
    await tg.say("/start")
    await tg.press("Yes")
    old_language = tg.api.last_message(CHAT)
    assert old_language is not None
    campaign_id = add_campaign(tg, clock())
    with Session(tg.engine) as session:
        participant = session.exec(select(Participant)).one()
        run = runtime.start_run(session=session, participant=participant, flow_id="satisfaction",
                                kind="campaign", dedupe_key=f"c:{campaign_id}", now=clock(),
                                campaign_id=campaign_id)
        session.commit()
    assert run is not None
    await tg.deliver()
    await press_on(tg, old_language, "English")  # from the replaced run
    state = run_state(tg)
    assert state["node"] == "consent" and state["consents"] == {}
    assert tg.api.calls_to("answerCallbackQuery")[-1].params["text"] == ALREADY_ANSWERED["en"]


async def test_after_a_reprompt_the_open_question_still_takes_its_buttons(tg: Harness) -> None:
    await tg.say("/start")
    await tg.press("Yes")
    await tg.press("English")
    await tg.say("Federal Hill")
    day = tg.api.last_message(CHAT)
    assert day is not None
    await tg.say("banana")  # re-prompted, with a keyboard of its own
    assert tg.api.sent_texts(CHAT)[-1].startswith("Sorry")
    await press_on(tg, day, "4")  # the question's first keyboard is still good
    assert run_state(tg)["results"]["safe_day"] == "4"


# -- 5. one chat, one step at a time -------------------------------------------------------


async def walk_to_safe_day(tg: Harness, chat: int) -> dict[str, Any]:
    await tg.say("/start", chat=chat)
    await tg.press("Yes", chat=chat)
    await tg.press("English", chat=chat)
    await tg.say("Federal Hill", chat=chat)
    day = tg.api.last_message(chat)
    assert day is not None and "during the day" in day["text"]
    return day


async def test_concurrent_double_press_never_records_twice(tg: Harness) -> None:
    for trial in range(12):
        chat = 7000 + trial
        day = await walk_to_safe_day(tg, chat)
        four = next(b["callback_data"] for row in day["reply_markup"]["inline_keyboard"]
                    for b in row if b["text"].startswith("4"))
        tg.tick()
        presses = [tg.updates.press_on(day, four), tg.updates.press_on(day, four)]
        responses = await asyncio.gather(*(tg.post(p) for p in presses))
        assert [r.status_code for r in responses] == [200, 200]
        await tg.deliver()
        results = run_state(tg, chat)["results"]
        assert results.get("safe_day") == "4", trial
        assert "safe_night" not in results, f"trial {trial}: the second press was recorded"
        notices = [c.params.get("text") for c in tg.api.calls_to("answerCallbackQuery")[-2:]]
        assert sorted(notices, key=str) == sorted([None, ALREADY_ANSWERED["en"]], key=str)


def chat_locks(tg: Harness) -> ChatLocks:
    """The per-chat locks of the app's webhook Dispatcher (made on the first update)."""
    dispatcher = tg.app.state.telegram_webhook.dispatcher
    (middleware,) = [m for m in dispatcher.update.outer_middleware
                     if isinstance(m, UpdateContextMiddleware)]
    return middleware.locks


async def test_quick_answers_are_stored_in_the_order_sent(tg: Harness) -> None:
    """A press, then a typed answer 5 ms after the press entered handling (even trials: two
    typed answers): the first answers safe_day, the second safe_night, whatever each one's
    handling waits on."""
    for trial in range(8):
        chat = 8000 + trial
        day = await walk_to_safe_day(tg, chat)
        tg.tick()
        if trial % 2:
            four = next(b["callback_data"] for row in day["reply_markup"]["inline_keyboard"]
                        for b in row if b["text"].startswith("4"))
            first = tg.updates.press_on(day, four)
        else:
            first = tg.updates.text(chat, "4")
        second = tg.updates.text(chat, "2")

        locks = chat_locks(tg)

        async def later(payload: dict[str, Any]) -> Any:
            waited = 0
            while not locks.busy(chat) and waited < 2000:  # the first is being handled
                await asyncio.sleep(0.001)
                waited += 1
            await asyncio.sleep(0.005)
            return await tg.post(payload)

        await asyncio.gather(tg.post(first), later(second))
        await tg.deliver()
        results = run_state(tg, chat)["results"]
        assert (results.get("safe_day"), results.get("safe_night")) == ("4", "2"), trial


# -- 7. words for Telegram -----------------------------------------------------------------


async def test_help_and_delete_speak_telegram(tg: Harness) -> None:
    await tg.say("/start")
    await tg.say("/help")
    (help_text,) = [t for t in tg.api.sent_texts(CHAT) if "Contact:" in t]
    assert "/stop" in help_text and "Msg & data" not in help_text and "rates" not in help_text
    await tg.say("/delete")
    erased = tg.api.sent_texts(CHAT)[-1]
    assert "erased" in erased and "number" not in erased and "text us" not in erased


# -- 8. smaller ----------------------------------------------------------------------------


async def test_start_mid_survey_repeats_the_open_question(tg: Harness) -> None:
    await tg.say("/start")
    await tg.press("Yes")
    language = tg.api.last_message(CHAT)
    assert language is not None
    await tg.say("/start")
    *_, subscribed, again = tg.api.sent_texts(CHAT)
    assert "subscribed" in subscribed and again == language["text"]
    repeated = tg.api.last_message(CHAT)
    assert repeated is not None and labels(repeated) == labels(language)
    await tg.press("English")  # the repeated keyboard answers it
    assert run_state(tg)["results"]["language"] == "en"


async def test_sticker_after_stop_gets_no_reply(tg: Harness) -> None:
    await tg.say("/start")
    await tg.say("/stop")
    sent = len(tg.api.sent_texts(CHAT))
    tg.tick()
    await tg.post(tg.updates.sticker(CHAT))
    await tg.post(tg.updates.text(CHAT, "/weird"))
    await tg.deliver()
    assert len(tg.api.sent_texts(CHAT)) == sent


async def test_long_free_text_is_kept_trimmed_with_a_note(tg: Harness) -> None:
    await tg.say("/start")
    await tg.press("Yes")
    await tg.press("English")
    await tg.say("Federal Hill")
    for label in ["4", "2", "4", "1", "Called for help", "5"]:
        await tg.press(label)
    long_answer = "More street lights and a safer bus stop please. " * 20  # ~1,000 characters
    await tg.say(long_answer)
    texts = tg.api.sent_texts(CHAT)
    assert any("kept its first 480 characters" in t for t in texts[-3:])
    participant = tg.participant()
    assert participant is not None
    from engage.storage.tables import Response

    with Session(tg.engine) as session:
        kept = session.exec(select(Response).where(Response.name == "safer")).one()
    assert kept.text is not None and 380 < len(kept.text) <= 480
    assert long_answer.startswith(kept.text)
