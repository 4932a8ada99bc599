"""The runtime honours opt-out in a resident's own words like STOP, asks once when a longer
text mentions stopping messages (and sends nothing else until answered), and keeps answers
that say "stop" about other things as answers."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from engage import privacy
from engage.channels.base import Inbound
from engage.config import Settings
from engage.opt_out_intent import language_of
from engage.runtime import HOLD, Runtime
from engage.storage.db import session_scope
from engage.storage.tables import ConsentEntry, Outbox, Participant, Response, Run
from tests.test_opt_out_intent import PROBE

_ids = itertools.count(1)
CONSENTED = ["hi", "yes", "1"]  # consent given, English chosen: the area question is waiting


def _address() -> str:
    return f"+1410556{next(_ids) % 10000:04d}"


def say(runtime: Runtime, text: str, address: str) -> Any:
    return runtime.handle_inbound(Inbound(
        channel="sms", address=address, text=text, provider_id=f"SM{next(_ids):032x}",
        received_at=datetime(2026, 7, 1, 16, 0, tzinfo=UTC)))


def _participant(engine: sa.Engine, settings: Settings, address: str) -> Participant:
    key = privacy.participant_key(settings.secret_bytes(), "sms",
                                  privacy.normalize_address("sms", address))
    with Session(engine) as session:
        found = session.exec(select(Participant).where(Participant.key == key)).one()
    return found


def _bodies(engine: sa.Engine, ids: tuple[int, ...]) -> list[str]:
    with Session(engine) as session:
        return [session.get(Outbox, i).body or "" for i in ids]  # type: ignore[union-attr]


@pytest.mark.parametrize("text", [*PROBE, "No más mensajes por favor",
                                  "can you stop sending these messages",
                                  "I don't want these texts, can you stop?",
                                  "pueden dejar de enviarme estos mensajes"])
def test_own_words_opt_out_like_stop(runtime: Runtime, db_engine: sa.Engine,
                                     settings: Settings, text: str) -> None:
    address = _address()
    for reply in CONSENTED:
        say(runtime, reply, address)
    outcome = say(runtime, text, address)
    assert outcome.keyword == "opt_out" and outcome.status == "handled"
    [confirmation] = _bodies(db_engine, outcome.outbox_ids)
    assert "START" in confirmation
    if language_of(text) == "es":
        assert "baja" in confirmation  # answered in the resident's language
    p = _participant(db_engine, settings, address)
    assert p.opted_out
    with Session(db_engine) as session:
        ledger = session.exec(select(ConsentEntry).where(
            ConsentEntry.participant_id == p.id, ConsentEntry.status == "opted_out")).one()
        assert ledger.source == "own_words"
        assert session.exec(select(Run).where(Run.participant_id == p.id)).one().status \
            == "ended"
        responses = session.exec(select(Response).where(Response.participant_id == p.id)).all()
        assert all(r.name != "area" for r in responses)  # not taken as an answer
    assert say(runtime, "Canton", address).status == "ignored"
    # a campaign passes an opted-out resident by
    with session_scope(db_engine) as session:
        stored = session.get(Participant, p.id)
        assert stored is not None
        assert runtime.start_run(session=session, participant=stored, flow_id="satisfaction",
                                 kind="campaign", dedupe_key=f"c:{address}", now=datetime(
                                     2026, 7, 2, 16, 0, tzinfo=UTC), campaign_id=1) is None


def test_police_should_stop_harassing_kids_is_an_answer(
        runtime: Runtime, db_engine: sa.Engine, settings: Settings) -> None:
    address = _address()
    for reply in ["hi", "yes", "1", "Canton", "4", "2", "3", "5", "called for help", "4"]:
        say(runtime, reply, address)
    outcome = say(runtime, "police should stop harassing kids", address)  # the free-text one
    assert outcome.keyword is None
    p = _participant(db_engine, settings, address)
    assert not p.opted_out
    with Session(db_engine) as session:
        texts = [r.text for r in session.exec(select(Response).where(
            Response.participant_id == p.id)).all() if r.text]
    assert texts == ["police should stop harassing kids"]


LONG = "Honestly the survey is fine but please stop texting me at night, it wakes my kids"


def _pending(engine: sa.Engine, participant_id: int | None) -> list[Outbox]:
    with Session(engine) as session:
        return list(session.exec(select(Outbox).where(
            Outbox.participant_id == participant_id, Outbox.status == "pending")).all())


def test_longer_text_gets_one_clarification_and_nothing_else_until_answered(
        runtime: Runtime, db_engine: sa.Engine, settings: Settings, clock: Any) -> None:
    address = _address()
    for reply in CONSENTED:
        say(runtime, reply, address)
    outcome = say(runtime, LONG, address)
    assert outcome.keyword == "clarify"
    [question] = _bodies(db_engine, outcome.outbox_ids)
    assert "Reply STOP to stop all messages" in question
    p = _participant(db_engine, settings, address)
    assert not p.opted_out
    with Session(db_engine) as session:
        run = session.exec(select(Run).where(Run.participant_id == p.id)).one()
        assert json.loads(run.state)[HOLD] is True and run.wake_at is None
    assert [o.id for o in _pending(db_engine, p.id)] == list(outcome.outbox_ids)
    # nothing else: no reminder, no timeout, no campaign
    clock.advance(hours=30)
    assert runtime.wake_due(now=clock()) == 0
    with session_scope(db_engine) as session:
        stored = session.get(Participant, p.id)
        assert stored is not None
        assert runtime.start_run(session=session, participant=stored, flow_id="satisfaction",
                                 kind="campaign", dedupe_key=f"c:{address}", now=clock(),
                                 campaign_id=7) is None
    assert [o.id for o in _pending(db_engine, p.id)] == list(outcome.outbox_ids)


@pytest.mark.parametrize("answer", ["yes", "STOP", "Sí"])
def test_yes_or_stop_after_the_clarification_opts_out(
        runtime: Runtime, db_engine: sa.Engine, settings: Settings, answer: str) -> None:
    address = _address()
    for reply in CONSENTED:
        say(runtime, reply, address)
    say(runtime, LONG, address)
    outcome = say(runtime, answer, address)
    assert outcome.keyword == "opt_out"
    assert _participant(db_engine, settings, address).opted_out


def test_any_other_reply_lifts_the_hold_and_is_an_answer(
        runtime: Runtime, db_engine: sa.Engine, settings: Settings) -> None:
    address = _address()
    for reply in CONSENTED:
        say(runtime, reply, address)
    say(runtime, LONG, address)
    outcome = say(runtime, "Canton", address)  # the waiting question: which area
    assert outcome.keyword is None and outcome.status == "handled"
    p = _participant(db_engine, settings, address)
    assert not p.opted_out
    with Session(db_engine) as session:
        run = session.exec(select(Run).where(Run.participant_id == p.id)).one()
        assert HOLD not in json.loads(run.state)
        assert run.wake_at is not None  # reminders are back
    assert outcome.outbox_ids  # the survey goes on


def test_yes_after_the_clarification_stops_even_with_no_survey_open(
        runtime: Runtime, db_engine: sa.Engine, settings: Settings) -> None:
    address = _address()
    say(runtime, "hi", address)
    say(runtime, "no", address)  # declined the survey: no run is open any more
    asked = say(runtime, LONG, address)
    assert asked.keyword == "clarify"
    outcome = say(runtime, "yes", address)
    assert outcome.keyword == "opt_out"
    assert _participant(db_engine, settings, address).opted_out


def test_yes_without_a_clarification_is_not_an_opt_out(
        runtime: Runtime, db_engine: sa.Engine, settings: Settings) -> None:
    address = _address()
    say(runtime, "hi", address)
    outcome = say(runtime, "yes", address)  # consent to the survey
    assert outcome.keyword is None
    assert not _participant(db_engine, settings, address).opted_out
