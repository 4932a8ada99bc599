"""Whole conversations by SMS through HTTP: survey in English and Spanish, keywords."""

from __future__ import annotations

from sqlmodel import select

from engage.storage.db import session_scope
from engage.storage.tables import Message, Participant, Response
from tests.web.conftest import SmsHarness

EN_REPLIES = ["YES", "1", "Hampden", "4", "2", "3", "4", "5", "More street lights", "yes", "2",
              "skip", "no"]


async def test_first_message_starts_consent(sms: SmsHarness) -> None:
    [reply] = await sms.say("Hello")
    assert "Reply YES to start" in reply


async def test_whole_survey_in_english(sms: SmsHarness) -> None:
    await sms.say("Hi")
    transcript = []
    for text in EN_REPLIES:
        transcript.append(await sms.say(text))
    assert all(transcript), "every reply got an answer"
    assert "Thank you!" in transcript[-1][-1]
    with session_scope(sms.engine) as session:
        answers = {r.name: r.value for r in session.exec(select(Response))}
    assert answers["safe_day"] == "4" and answers["safe_night"] == "2"
    assert answers["contact_type"] == "none" and answers["age_band"] == "25-34"


async def test_whole_survey_in_spanish(sms: SmsHarness) -> None:
    first = await sms.say("Hola")
    assert "ESPAÑOL" in first[0]
    consent = await sms.say("ESPAÑOL")
    assert any("Responda" in m for m in consent)
    transcript = [consent]
    for text in ["SI", "Hampden", "4", "2", "3", "4", "5", "Más luces en la calle", "si", "2",
                 "saltar", "no"]:
        transcript.append(await sms.say(text))
    assert "¡Gracias!" in transcript[-1][-1]
    with session_scope(sms.engine) as session:
        answers = {r.name: r.value for r in session.exec(select(Response))}
    assert "language" not in answers  # ESPAÑOL already chose it: the question is skipped
    with session_scope(sms.engine) as session:
        assert session.exec(select(Participant)).one().language == "es"
    assert answers["safe_night"] == "2"
    with session_scope(sms.engine) as session:
        out = session.exec(select(Message).where(Message.direction == "out")).all()
    assert out and all(m.segments and m.provider_id for m in out)
    assert {m.encoding for m in out} == {"GSM-7", "UCS-2"}  # accents force UCS-2
    assert all(m.smart_encoded == "true" for m in sms.api.messages)
