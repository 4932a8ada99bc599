"""Opt-out in a resident's own words: the phrase set, tested in both directions."""

from __future__ import annotations

import pytest

from engage import compliance
from engage.opt_out_intent import classify, confirms, language_of

# the nine phrases the attacker's probe found treated as survey answers (issue 15)
PROBE = ["stop please", "Stop texting me", "please stop", "unsubscribe me", "STOP.  Thanks",
         "remove me", "no more texts", "\U0001F6D1", "Stopp"]
MORE_OPT_OUTS_EN = ["STOP!!!", "stoppp", "plz stop txting me", "dont text me",
                    "Do not text me again", "take me off your list", "remove me from this list",
                    "I want to unsubscribe", "opt out please", "stop stop", "Stop it",
                    "leave me alone", "cancel my subscription", "\u26D4\uFE0F", "🛑🛑",
                    "quit messaging me", "no more messages thank you"]
OPT_OUTS_ES = ["ya no me manden mensajes", "No más mensajes por favor",
               "Dejen de enviarme mensajes", "Pare por favor", "quiero darme de baja",
               "basta ya", "Quítenme de la lista", "no quiero recibir más mensajes",
               "alto por favor", "denme de baja"]
# requests put as a question ("can you stop ..."), or naming the messages ("these texts")
ASKED_OPT_OUTS = [
    "can you stop sending these messages", "I don't want these texts, can you stop?",
    "Could you please stop texting me", "Can you stop?", "i dont want any more texts",
    "please stop sending me all these messages", "Stop. Can you stop sending these messages?",
    "pueden dejar de enviarme estos mensajes", "no quiero estos mensajes",
    "Puede dejar de mandarme mensajes por favor", "ya no quiero sus mensajes",
    "podrían dejar de mandarme mensajes",
]
ASKS = [
    "Honestly the survey is fine but please stop texting me at night, it wakes my kids",
    "I answered this last week, why do you keep asking? Don't text me about it",
    "The lights on my street are out. Also I don't want any more messages",
    "Ya contesté la encuesta la semana pasada, dejen de mandarme cosas",
    "No quiero recibir más mensajes de este programa, ya di mis respuestas",
    "please stop texting me about this",
    "I don't want these texts anymore, I already answered the survey twice",
    "Ya respondí todo, ¿pueden dejar de enviarme estos mensajes de la encuesta?",
]
ANSWERS = [
    "police should stop harassing kids",
    "Stop the violence", "Please stop the shootings", "stop signs at Elm and 5th",
    "I would like police to stop by more often", "the end of the block is dark",
    "I think the city should stop sending police to mental health calls",
    "more patrols please", "yes", "no", "no thanks", "4", "Canton", "stop and frisk is wrong",
    "They need to stop the drug dealing on my corner",
    "basta de violencia", "alto el fuego", "para mí la policía debería patrullar más",
    "que paren los robos", "la policía debe dejar de acosar a los jóvenes",
    "", "   ", "😀", "🛑 at the corner of Elm is missing",
    "the texts about the meeting were useful", "I want the shootings to stop",
    "can you stop the violence", "could you stop by the park more often",
    "I don't want the messages about meetings to stop", "I do not want the text alerts to end",
    "stop sending police to mental health calls", "dont want more police",
    "we need more messages about safety", "la ciudad debe dejar de enviar policías",
    "no quiero que paren los mensajes del programa",
]


@pytest.mark.parametrize("text", PROBE + MORE_OPT_OUTS_EN + OPT_OUTS_ES + ASKED_OPT_OUTS)
def test_short_opt_out_phrases_are_opt_outs(text: str) -> None:
    assert compliance.classify(text) is None or compliance.classify(text).kind == "opt_out"
    assert classify(text) == "opt_out"


@pytest.mark.parametrize("text", ASKS)
def test_longer_text_about_stopping_messages_asks_once(text: str) -> None:
    assert classify(text) == "ask"


@pytest.mark.parametrize("text", ANSWERS)
def test_answers_that_say_stop_about_other_things_stay_answers(text: str) -> None:
    assert classify(text) is None


def test_a_long_message_is_never_an_opt_out_on_its_own() -> None:
    assert classify("please " * 12 + "stop") is None  # 88 characters: no phrase, no mention
    assert classify("stop texting me " * 6) == "ask"  # 96 characters: a mention, so ask


@pytest.mark.parametrize(("text", "expected"), [
    ("yes", True), ("Sí", True), ("yes please", True), ("stop", True), ("remove me", True),
    ("no", False), ("4", False), ("keep going", False), ("Canton", False)])
def test_after_the_clarification_yes_means_stop(text: str, expected: bool) -> None:
    assert confirms(text) is expected


@pytest.mark.parametrize(("text", "language"), [
    ("no more texts", "en"), ("stop please", "en"), ("No más mensajes por favor", "es"),
    ("quiero darme de baja", "es"), ("Pare por favor", "es"),
    ("can you stop sending these messages", "en"),
    ("pueden dejar de enviarme estos mensajes", "es"), ("no quiero estos mensajes", "es")])
def test_the_reply_is_in_the_language_of_the_words(text: str, language: str) -> None:
    assert language_of(text) == language
