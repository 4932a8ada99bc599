"""Conversation rough edges, as a resident meets them over SMS (signed webhook, fake Twilio)."""

from __future__ import annotations

from sqlmodel import select

from engage.storage.db import session_scope
from engage.storage.tables import Response
from tests.web.conftest import SmsHarness


def answers(sms: SmsHarness) -> dict[str, str | None]:
    with session_scope(sms.engine) as session:
        return {r.name: r.value for r in session.exec(select(Response))}


async def test_espanol_as_the_first_reply_is_not_asked_the_language_again(
        sms: SmsHarness) -> None:
    await sms.say("Hola")
    await sms.say("ESPAÑOL")
    [after_yes] = await sms.say("si")
    assert "barrio" in after_yes and "idioma" not in after_yes


async def test_a_real_age_is_mapped_to_its_band(sms: SmsHarness) -> None:
    await sms.say("Hi")
    for text in ["YES", "1", "Hampden", "4", "2", "3", "4", "5", "More lights", "no"]:
        await sms.say(text)
    got = await sms.say("25")
    assert "Race/ethnicity" in got[-1]
    assert answers(sms)["age_band"] == "25-34"


async def test_who_is_this_is_answered_then_the_question_repeated(sms: SmsHarness) -> None:
    await sms.say("Hi")
    who, question = await sms.say("who is this?")
    assert "community safety" in who and "STOP" in who
    assert question.startswith("Baltimore community safety survey")
    assert "Please reply YES or NO" not in who + question
    await sms.say("ESPAÑOL")
    quien, pregunta = await sms.say("¿Quién es?")
    assert "Le escribe" in quien and "ALTO" in quien and "STOP" not in quien
    assert pregunta.startswith("Encuesta de seguridad")
    assert "Empezamos" in (await sms.say("quien eres"))[-1]


async def test_help_repeats_the_pending_question(sms: SmsHarness) -> None:
    await sms.say("Hi")
    await sms.say("YES")
    help_text, question = await sms.say("HELP")
    assert "Reply STOP" in help_text
    assert question == "Which language do you prefer? 1 English 2 Español"


async def test_three_unclear_answers_say_the_question_is_skipped(sms: SmsHarness) -> None:
    await sms.say("Hi")
    for text in ["YES", "1"]:
        await sms.say(text)
    await sms.say("the moon")
    await sms.say("mars")
    skipped = await sms.say("jupiter")
    assert skipped[0] == "No problem, let's skip that question."
    assert "safe" in skipped[1]


async def test_declined_then_yes_reoffers_the_survey_like_start(sms: SmsHarness) -> None:
    await sms.say("Hi")
    [declined] = await sms.say("NO")
    assert "won't ask survey questions" in declined
    [offer] = await sms.say("yes")
    assert offer.startswith("Baltimore community safety survey")
    assert "no open survey" not in offer


async def test_spanish_texts_name_one_stop_keyword(sms: SmsHarness) -> None:
    await sms.say("Hola")
    await sms.say("ESPAÑOL")
    [declined] = await sms.say("no")
    assert "ALTO" in declined and "STOP" not in declined


async def test_a_misspelt_neighbourhood_is_confirmed(sms: SmsHarness) -> None:
    await sms.say("Hi")
    await sms.say("YES")
    await sms.say("1")
    assert await sms.say("hamden") == ["Did you mean Hampden? Reply YES or NO."]
    [next_question] = await sms.say("yes")
    assert "during the day" in next_question
    assert answers(sms)["area"] == "Hampden"
