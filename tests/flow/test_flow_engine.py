"""The engine: pure steps, consent, language, re-prompts, skips, timeouts, expiry, versions."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flow_helpers import T0, make_flow, roundtrip, says, shipped, types

from engage.flow import Flow, answers, flow_from_dict, resume, start, timeout
from engage.flow.engine import EngineError, Step
from engage.flow.events import (
    MULTI_DONE,
    ConsentChanged,
    LanguageChanged,
    ResultRecorded,
    RunEnded,
    Say,
)

SAT = shipped("satisfaction")
LATER = T0 + timedelta(minutes=1)


def feed(flow: Flow, replies: list[str], *, language: str | None = None,
         context: dict[str, str] | None = None, now: datetime = T0) -> list[Step]:
    step = start(flow, now=now, language=language, context=context)
    steps = [step]
    for reply in replies:
        now = now + timedelta(minutes=1)
        step = resume(flow, roundtrip(step), reply, now=now)
        steps.append(step)
    return steps


def test_start_asks_consent_and_sets_wake_at() -> None:
    step = start(SAT, now=T0)
    assert step.state["v"] == 1
    assert step.state["status"] == "waiting"
    assert step.state["language"] == "en"
    assert step.state["results"] == {}
    assert step.wake_at == T0 + timedelta(hours=24)  # the consent reminder
    (say,) = step.events
    assert isinstance(say, Say) and say.kind == "question" and say.node_id == "consent"
    assert [o.value for o in say.options] == ["yes", "no", "ESPAÑOL"]  # the other language


def test_naive_now_is_rejected() -> None:
    with pytest.raises(EngineError):
        start(SAT, now=datetime(2026, 1, 1))


def test_declining_survey_consent_ends_declined() -> None:
    last = feed(SAT, ["no"])[-1]
    assert last.state["status"] == "declined"
    assert last.state["wake_at"] is None
    consent, goodbye, ended = last.events
    assert consent == ConsentChanged("surveys", "declined", "satisfaction-consent-v1", "consent")
    assert isinstance(goodbye, Say) and "No problem" in goodbye.text
    assert ended == RunEnded("declined", "declined")


def test_granting_consent_emits_event_and_moves_on() -> None:
    last = feed(SAT, ["Yes!"])[-1]
    assert last.events[0] == ConsentChanged("surveys", "granted", "satisfaction-consent-v1",
                                            "consent")
    assert last.state["node"] == "language"
    assert last.state["consents"] == {"surveys": "granted"}


def test_language_question_switches_language() -> None:
    last = feed(SAT, ["yes", "2"])[-1]
    assert last.events[0] == LanguageChanged("es")
    result = last.events[1]
    assert isinstance(result, ResultRecorded) and result.name == "language" and result.value == "es"
    assert last.state["language"] == "es"
    assert says(last)[-1].startswith("¿En qué barrio vive?")


def test_yes_at_the_language_question_is_reprompted_not_spanish() -> None:
    last = feed(SAT, ["yes", "yes"])[-1]
    (reprompt,) = last.events
    assert isinstance(reprompt, Say) and reprompt.kind == "reprompt"
    assert reprompt.text == "Sorry, please reply with a number from 1 to 2."
    assert last.state["language"] == "en" and last.state["node"] == "language"
    assert last.state["tries"] == 1


def test_language_keyword_at_any_question_re_asks_in_that_language() -> None:
    last = feed(SAT, ["Español"])[-1]
    assert last.events[0] == LanguageChanged("es")
    assert says(last) == [SAT.nodes["consent"].question.text["es"]]  # type: ignore[union-attr]
    assert last.state["node"] == "consent" and last.state["tries"] == 0


def test_area_records_neighbourhood_and_district() -> None:
    last = feed(SAT, ["yes", "1", "I live in fed hill"])[-1]
    result = last.events[0]
    assert isinstance(result, ResultRecorded)
    assert (result.name, result.value, result.extra) == ("area", "Federal Hill",
                                                         {"district": "Southern"})
    assert result.scope == "surveys"


def test_zip_code_area() -> None:
    result = feed(SAT, ["yes", "1", "21224"])[-1].events[0]
    assert isinstance(result, ResultRecorded)
    assert result.value == "Canton" and result.extra == {"district": "Southeastern", "zip": "21224"}


def test_invalid_reply_reprompts_in_the_run_language() -> None:
    last = feed(SAT, ["yes", "2", "21224", "purple"])[-1]
    (reprompt,) = last.events
    assert isinstance(reprompt, Say) and reprompt.kind == "reprompt"
    assert reprompt.text == "Perdón, responda con un número del 1 al 5."
    assert last.state["tries"] == 1


def test_after_max_tries_the_question_is_skipped() -> None:
    last = feed(SAT, ["yes", "1", "skip", "purple", "green", "blue"])[-1]
    skipped = last.events[0]
    assert isinstance(skipped, ResultRecorded)
    assert (skipped.name, skipped.value, skipped.category) == ("safe_day", None, "skipped")
    assert last.state["node"] == "safe_night"


def test_consent_after_max_tries_ends_the_run() -> None:
    last = feed(SAT, ["huh", "what", "?"])[-1]
    assert last.state["status"] == "declined"
    assert types(last) == ["say", "ended"]  # the flow's goodbye; no consent was given
    assert not any(isinstance(e, ConsentChanged) for e in last.events)


def test_optional_question_accepts_skip_words_in_both_languages() -> None:
    for word in ("skip", "prefer not to say", "saltar", "Prefiero no decir"):
        last = feed(SAT, ["yes", "1", word])[-1]
        result = last.events[0]
        assert isinstance(result, ResultRecorded) and result.category == "skipped", word


def test_required_question_does_not_accept_skip() -> None:
    last = feed(SAT, ["yes", "skip"])[-1]
    assert types(last) == ["say"] and last.events[0].kind == "reprompt"  # type: ignore[union-attr]


def test_category_branch_skips_contact_satisfaction() -> None:
    last = feed(SAT, ["yes", "1", "Canton", "4", "4", "4", "4", "none"])[-1]
    assert last.state["node"] == "safer"
    assert last.state["results"]["contact_type"] == "none"


def test_condition_branch_on_low_satisfaction() -> None:
    last = feed(SAT, ["yes", "1", "Canton", "4", "4", "4", "4", "2", "1"])[-1]
    assert [e.node_id for e in last.events if isinstance(e, Say)] == ["sorry", "safer"]
    high = feed(SAT, ["yes", "1", "Canton", "4", "4", "4", "4", "2", "5"])[-1]
    assert [e.node_id for e in high.events if isinstance(e, Say)] == ["safer"]


def test_every_option_value_is_accepted_by_the_parser() -> None:
    """Telegram buttons send Option.value back: each must be a valid answer."""
    for flow_id in ("satisfaction", "dialogue_rsvp", "session_feedback"):
        flow = shipped(flow_id)
        for node in flow.questions():
            step = start(flow, now=T0)
            state = dict(roundtrip(step), node=node.id)
            probe = resume(flow, state, "zzzz-not-an-answer", now=LATER)
            options = next(e for e in probe.events if isinstance(e, Say)).options
            assert options or node.question.type in ("text", "area", "number"), node.id  # type: ignore[union-attr]
            for option in options:
                if option.value == MULTI_DONE:
                    continue  # Telegram turns Done into the ticked numbers (multi_select.py)
                after = resume(flow, state, option.value, now=LATER)
                assert not any(isinstance(e, Say) and e.kind == "reprompt" for e in after.events), (
                    flow_id, node.id, option)


def test_timeout_sends_reminder_then_waits_for_expiry() -> None:
    step = start(SAT, now=T0)
    early = timeout(SAT, roundtrip(step), now=T0 + timedelta(hours=1))
    assert early.events == [] and early.state == step.state
    due = step.wake_at
    assert due is not None
    reminded = timeout(SAT, roundtrip(step), now=due)
    (say,) = reminded.events
    assert isinstance(say, Say) and say.kind == "reminder" and say.text.startswith("Reminder")
    assert reminded.wake_at == T0 + timedelta(days=7)  # no path after the reminder: expiry next
    expired = timeout(SAT, roundtrip(reminded), now=T0 + timedelta(days=7))
    assert expired.state["status"] == "expired"
    assert expired.events == [RunEnded("expired", "consent")]
    assert expired.state["wake_at"] is None


def test_timeout_path_moves_on_without_a_result() -> None:
    replies = ["yes", "1", "Canton", "4", "4", "4", "4", "none"]
    last = feed(SAT, replies)[-1]
    assert last.state["node"] == "safer"
    due = last.wake_at
    assert due is not None
    moved = timeout(SAT, roundtrip(last), now=due)
    assert moved.state["node"] == "quotes"
    assert not any(isinstance(e, ResultRecorded) for e in moved.events)


def test_reply_after_expiry_expires_the_run() -> None:
    step = start(SAT, now=T0)
    late = resume(SAT, roundtrip(step), "yes", now=T0 + timedelta(days=8))
    assert late.state["status"] == "expired"
    assert not any(isinstance(e, ConsentChanged) for e in late.events)


def test_finished_runs_ignore_replies_and_timeouts() -> None:
    done = feed(SAT, ["no"])[-1]
    again = resume(SAT, roundtrip(done), "yes", now=LATER)
    assert again.events == [] and again.state == done.state
    assert timeout(SAT, roundtrip(done), now=LATER).events == []


def test_engine_does_not_mutate_the_input_state() -> None:
    step = start(SAT, now=T0)
    state = roundtrip(step)
    snapshot = roundtrip(step)
    resume(SAT, state, "yes", now=LATER)
    assert state == snapshot


def test_run_finishes_on_the_version_it_started_on() -> None:
    v1 = make_flow("""
        id: tiny
        version: 1
        languages: [en]
        nodes:
          - id: q
            ask: {type: yes_no, result: ok, text: {en: "Old question?"}}
            next: done
          - id: done
            end: completed
            say: {en: "Old goodbye"}
        """)
    stored = v1.to_dict()
    step = start(v1, now=T0)
    v2 = make_flow("""
        id: tiny
        version: 2
        languages: [en]
        nodes:
          - id: q
            ask: {type: yes_no, result: ok, text: {en: "New question?"}}
            next: done
          - id: done
            end: completed
            say: {en: "New goodbye"}
        """)
    with pytest.raises(EngineError):
        resume(v2, roundtrip(step), "yes", now=LATER)
    finished = resume(flow_from_dict(stored), roundtrip(step), "yes", now=LATER)
    assert says(finished) == ["Old goodbye"]
    assert finished.state["status"] == "completed"


def test_templating_uses_context_results_and_language() -> None:
    flow = make_flow("""
        id: tpl
        version: 1
        languages: [en]
        nodes:
          - id: hello
            say: {en: "Hi {{ context.name }} ({{ language }})"}
            next: q
          - id: q
            ask: {type: number, result: n, min: 1, max: 9, text: {en: "Pick"}}
            next: done
          - id: done
            end: completed
            say: {en: "You said {{ results.n }}; {{context.missing}}."}
        """)
    first = start(flow, now=T0, context={"name": "Ana {{ results.n }}"})
    assert says(first)[0] == "Hi Ana {{ results.n }} (en)"  # context values are never re-rendered
    last = resume(flow, roundtrip(first), "7", now=LATER)
    assert says(last) == ["You said 7; ."]


def test_number_limits_and_multi_choice_exclusive() -> None:
    rsvp = shipped("dialogue_rsvp")
    steps = feed(rsvp, ["yes", "1, 4", "1 and 3"], context={"session_title": "T"})
    assert steps[2].events[0].kind == "reprompt"  # type: ignore[union-attr]
    result = steps[3].events[0]
    assert isinstance(result, ResultRecorded) and result.value == "childcare,ride"
    assert steps[3].state["status"] == "completed"


def test_on_fail_end_and_custom_reprompt() -> None:
    flow = make_flow("""
        id: strict
        version: 1
        languages: [en]
        nodes:
          - id: q
            ask:
              type: number
              result: n
              min: 1
              max: 3
              max_tries: 2
              on_fail: end
              reprompt: {en: "1, 2 or 3 please"}
              text: {en: "Pick 1-3"}
            next: done
          - id: done
            end: completed
        """)
    steps = feed(flow, ["7", "8"])
    assert says(steps[1]) == ["1, 2 or 3 please"]
    assert steps[2].state["status"] == "declined"


@pytest.mark.parametrize(
    "reply",
    ["", " ", "x" * 2000, "😀😀😀", "\x00\x01\x02\x1b[2J", "كم عمرك", "你好", "\u202e\u200b",
     "1" * 500, "NaN", "inf", "-1e309"],
)
def test_hostile_replies_get_a_reprompt(reply: str) -> None:
    step = start(SAT, now=T0)
    for node_id in ("consent", "language", "area", "safe_day", "contact_type", "age_band"):
        state = dict(roundtrip(step), node=node_id)
        after = resume(SAT, state, reply, now=LATER)
        assert after.state["status"] in ("waiting", "declined")
        assert all(answers.clean(e.text) for e in after.events if isinstance(e, Say))


def test_built_in_reprompts_fit_one_sms_segment() -> None:
    from engage.flow.engine import _REPROMPTS
    from engage.flow.gsm import segment_info

    for texts in _REPROMPTS.values():
        for key, text in texts.items():
            full = text.format(lo=1, hi=10, name="Sandtown-Winchester") + texts["skip"]
            assert segment_info(full).segments == 1, (key, full)


@pytest.mark.parametrize(
    ("reply", "value"),
    [("strongly agre", "5"), ("Muy de acuerdo", "5"), ("en desacuerdo", "2"), ("NEUTRAL", "3"),
     ("4/5", "4"), ("cinco", "5")],
)
def test_likert_labels_words_and_typos(reply: str, value: str) -> None:
    last = feed(SAT, ["yes", "1", "skip", "4", "4", reply])[-1]
    result = last.events[0]
    assert isinstance(result, ResultRecorded) and result.name == "trust_respect"
    assert result.value == value and result.number == float(value)


def test_ten_point_likert() -> None:
    flow = make_flow("""
        id: ten
        version: 1
        languages: [en, es]
        expire_after: 1d
        nodes:
          - id: q
            ask:
              type: likert
              scale: 10
              result: score
              labels: {10: {en: Excellent, es: Excelente}}
              text: {en: "Rate 1-10", es: "Del 1 al 10"}
            next: done
          - id: done
            end: completed
        """)
    first = start(flow, now=T0)
    assert [o.value for o in first.events[0].options] == [str(i) for i in range(1, 11)]  # type: ignore[union-attr]
    assert first.events[0].options[-1].label == "10 - Excellent"  # type: ignore[union-attr]
    assert says(resume(flow, roundtrip(first), "11", now=LATER)) == [
        "Sorry, please reply with a number from 1 to 10."]
    for reply, value in (("10", "10"), ("diez", "10"), ("excelent", "10"), ("7/10", "7")):
        result = resume(flow, roundtrip(first), reply, now=LATER).events[0]
        assert isinstance(result, ResultRecorded) and result.value == value, reply


def test_a_close_spelling_of_a_place_is_confirmed_in_one_question() -> None:
    step = start(SAT, now=T0)
    state = dict(roundtrip(step), node="area")
    asked = resume(SAT, state, "hamden", now=LATER)
    [say] = [e for e in asked.events if isinstance(e, Say)]
    assert say.text == "Did you mean Hampden? Reply YES or NO."
    assert not [e for e in asked.events if isinstance(e, ResultRecorded)]
    confirmed = resume(SAT, roundtrip(asked), "yes", now=LATER)
    [result] = [e for e in confirmed.events if isinstance(e, ResultRecorded)]
    assert (result.name, result.value) == ("area", "Hampden")
    assert confirmed.state["node"] == "safe_day"
    refused = resume(SAT, roundtrip(asked), "no", now=LATER)
    assert refused.state["node"] == "area" and "neighborhood" in refused.events[-1].text
    retyped = resume(SAT, roundtrip(asked), "Canton", now=LATER)  # spelled again instead
    assert retyped.state["results"]["area"] == "Canton"
    exact = resume(SAT, state, "Hampden", now=LATER)  # an exact name needs no question
    assert exact.state["results"]["area"] == "Hampden"
def test_context_values_per_language_and_no_doubled_full_stop() -> None:
    from engage.flow.templating import fill

    flow = make_flow("""
        id: when
        version: 1
        languages: [en, es]
        nodes:
          - id: q
            ask:
              type: yes_no
              result: ok
              text:
                en: "It is {{ context.when }} at {{ context.place }}. Coming?"
                es: "Es el {{ context.when }} en {{ context.place }}. ¿Viene?"
            next: done
          - id: done
            end: completed
        """)
    context = {"when": "Tue Dec 8", "when_es": "martes 8 de diciembre", "place": "1 Main St."}
    assert says(start(flow, now=T0, context=context)) == [
        "It is Tue Dec 8 at 1 Main St. Coming?"]
    assert says(start(flow, now=T0, language="es", context=context)) == [
        "Es el martes 8 de diciembre en 1 Main St. ¿Viene?"]
    assert fill("See you at {place}. Bye", {"place": "1 Main St."}) == "See you at 1 Main St. Bye"
    assert fill("{a}, {b}!", {"a": "x.", "b": "y"}) == "x., y!"


def test_long_free_text_is_kept_trimmed_with_a_note() -> None:
    flow = make_flow("""
        id: talk
        version: 1
        languages: [en, es]
        nodes:
          - id: q
            ask: {type: text, result: said, max_length: 40, text: {en: "Tell us", es: "Díganos"}}
            next: done
          - id: done
            end: completed
        """)
    long_reply = "the corner of Elm and Pine needs a light and a crossing guard"
    step = resume(flow, roundtrip(start(flow, now=T0)), long_reply, now=LATER)
    (result,) = [e for e in step.events if isinstance(e, ResultRecorded)]
    assert result.value == "the corner of Elm and Pine needs a light"
    assert result.raw == result.value  # the rest is not stored anywhere
    assert says(step) == ["(Your answer was long, so we kept its first 40 characters.)"]
    assert step.state["status"] == "completed"
    short = resume(flow, roundtrip(start(flow, now=T0)), "a light", now=LATER)
    assert says(short) == []
    assert answers.trim_text("x" * 50, 40) == "x" * 40  # no word break: cut at the limit


def test_question_again_repeats_the_open_question_with_its_buttons() -> None:
    from engage.flow.engine import question_again

    first = start(SAT, now=T0)
    again = question_again(SAT, roundtrip(first))
    (asked,) = [e for e in first.events if isinstance(e, Say)]
    assert again is not None and (again.text, again.options) == (asked.text, asked.options)
    done = dict(roundtrip(first), status="completed")
    assert question_again(SAT, done) is None


def test_multi_choice_buttons_toggle_and_done() -> None:
    from engage.flow.events import toggle_value

    rsvp = shipped("dialogue_rsvp")
    steps = feed(rsvp, ["yes"], context={"session_title": "T"})
    (needs,) = [e for e in steps[1].events if isinstance(e, Say) and e.options]
    assert [o.value for o in needs.options] == [
        toggle_value(1), toggle_value(2), toggle_value(3), toggle_value(4, exclusive=True),
        MULTI_DONE]
    assert needs.options[-1].label == "Done"
    state = roundtrip(steps[1])
    assert state["asked_at"] == LATER.isoformat()
    after = resume(rsvp, state, "multi:3", now=LATER)  # a toggle value sent as a reply
    assert any(isinstance(e, ResultRecorded) and e.value == "ride" for e in after.events)
