"""The runtime loop end to end on SQLite and PostgreSQL: conversations, keywords, dedupe,
crash safety, concurrency, flow versions, wake-ups and privacy of logs/analytics tables."""

from __future__ import annotations

import gc
import itertools
import json
import logging
import shutil
import sqlite3
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlmodel import Session, col, func, select

from engage import audit, compliance, privacy
from engage.channels.base import Inbound
from engage.config import Settings
from engage.errors import RetryableError, UserError
from engage.flow import engine
from engage.flow.events import Say
from engage.flows_catalog import FlowCatalog
from engage.runtime import Runtime
from engage.storage import repo
from engage.storage.db import make_engine, session_scope
from engage.storage.tables import (
    AuditEntry,
    ConsentEntry,
    FlowVersion,
    Message,
    Outbox,
    Participant,
    Response,
    Run,
)

PHONE = "+14105550100"
_ids = itertools.count(1)
SAFER = "More lights at 1200 N Charles St, call me at 410-555-1234 or jane.doe@example.org"
SCRIPT = ["hi", "yes", "1", "Canton", "4", "2", "3", "5", "called for help", "4", SAFER, "yes",
          "2", "1", "yes"]


def inbound(text: str, address: str = PHONE, *, provider_id: str | None = None,
            channel: str = "sms", media: int = 0) -> Inbound:
    return Inbound(channel=channel, address=address, text=text,  # type: ignore[arg-type]
                   provider_id=provider_id or f"SM{next(_ids):08d}",
                   received_at=datetime(2026, 7, 1, 16, 0, tzinfo=UTC), media_count=media)


def say(runtime: Runtime, text: str, address: str = PHONE, **kw: Any) -> Any:
    return runtime.handle_inbound(inbound(text, address, **kw))


def bodies(engine: sa.Engine, ids: tuple[int, ...]) -> list[str]:
    with Session(engine) as session:
        return [session.get(Outbox, i).body or "" for i in ids]  # type: ignore[union-attr]


def counts(engine: sa.Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {m.__name__: session.exec(select(func.count()).select_from(m)).one()
                for m in (Participant, Message, Run, Response, Outbox, ConsentEntry, AuditEntry)}


def participant(engine: sa.Engine, settings: Settings, address: str = PHONE) -> Participant | None:
    key = privacy.participant_key(settings.secret_bytes(), "sms",
                                  privacy.normalize_address("sms", address))
    with Session(engine) as session:
        return session.exec(select(Participant).where(Participant.key == key)).first()


def results(engine: sa.Engine, participant_id: int) -> dict[str, Any]:
    with Session(engine) as session:
        rows = session.exec(select(Response).where(Response.participant_id == participant_id))
        return {r.name: (r.value if r.question_type != "text" else r.text) for r in rows}


# --- conversations ----------------------------------------------------------------------


def test_full_survey_stores_consented_scrubbed_results(runtime: Runtime, db_engine: sa.Engine,
                                                       settings: Settings) -> None:
    first = say(runtime, "hi")
    assert first.status == "handled" and len(first.outbox_ids) == 1
    assert "Reply YES" in bodies(db_engine, first.outbox_ids)[0]
    for text in SCRIPT[1:]:
        assert say(runtime, text).status == "handled"
    p = participant(db_engine, settings)
    assert p is not None and p.consent_surveys == "granted" and p.consent_quotes == "granted"
    assert (p.area, p.district) == ("Canton", "Southeastern")
    got = results(db_engine, p.id or 0)
    assert got["safe_day"] == "4" and got["safe_night"] == "2" and got["trust_listen"] == "5"
    assert got["contact_type"] == "called_for_help" and got["area"] == "Canton"
    assert got["safer"] == "More lights at [address], call me at [phone] or [email]"
    with Session(db_engine) as session:
        safer = session.exec(select(Response).where(Response.name == "safer")).one()
        assert safer.sentiment is not None and safer.sentiment_version
        assert safer.district == "Southeastern"
        run = session.exec(select(Run)).one()
        assert run.status == "completed" and run.ended_at is not None and run.wake_at is None
        assert "1200 N Charles" not in run.state and "[address]" in run.state
        ledger = session.exec(select(ConsentEntry).order_by(ConsentEntry.id)).all()
        assert [(e.scope, e.status) for e in ledger] == [
            ("surveys", "granted"), ("quotes", "granted"), ("dialogue", "granted")]
        assert ledger[0].text_version == "satisfaction-consent-v1"
        assert audit.verify(session).ok
        inbound_rows = session.exec(select(Message).where(Message.direction == "in")).all()
        assert len(inbound_rows) == len(SCRIPT) and all(m.run_id == run.id for m in inbound_rows)
        assert session.exec(select(func.count()).select_from(FlowVersion)).one() == 1


def test_skipped_free_text_keeps_no_text(runtime: Runtime, db_engine: sa.Engine,
                                         settings: Settings) -> None:
    script = list(SCRIPT)
    script[SCRIPT.index(SAFER)] = "SKIP"
    for text in script:
        assert say(runtime, text).status == "handled"
    p = participant(db_engine, settings)
    assert p is not None
    with Session(db_engine) as session:
        safer = session.exec(select(Response).where(Response.name == "safer")).one()
    assert safer.category == "skipped"
    assert safer.text is None and safer.sentiment is None and safer.value is None


def test_declined_consent_stores_nothing_and_ends(runtime: Runtime, db_engine: sa.Engine,
                                                  settings: Settings) -> None:
    say(runtime, "hi")
    outcome = say(runtime, "no")
    assert outcome.status == "handled"
    p = participant(db_engine, settings)
    assert p is not None and p.consent_surveys == "declined"
    with Session(db_engine) as session:
        assert session.exec(select(Run)).one().status == "declined"
        assert session.exec(select(Response)).all() == []
    later = say(runtime, "Canton")  # no new survey is started for them
    assert "no open survey" in bodies(db_engine, later.outbox_ids)[0]
    assert counts(db_engine)["Run"] == 1 and counts(db_engine)["Response"] == 0


def test_duplicate_delivery_creates_nothing_new(runtime: Runtime, db_engine: sa.Engine) -> None:
    say(runtime, "hi")
    message = inbound("yes", provider_id="SMdup")
    first = runtime.handle_inbound(message)
    before = counts(db_engine)
    again = runtime.handle_inbound(message)
    assert again.status == "duplicate" and again.outbox_ids == first.outbox_ids
    assert again.participant_key == first.participant_key
    assert counts(db_engine) == before


def test_media_without_text_gets_a_polite_note(runtime: Runtime, db_engine: sa.Engine) -> None:
    say(runtime, "hi")
    outcome = say(runtime, "", media=1)
    assert "only read text" in bodies(db_engine, outcome.outbox_ids)[0]
    with Session(db_engine) as session:
        assert json.loads(session.exec(select(Run)).one().state)["node"] == "consent"


def test_language_keyword_switches_mid_question(runtime: Runtime, db_engine: sa.Engine,
                                                settings: Settings) -> None:
    say(runtime, "hi")
    outcome = say(runtime, "ESPAÑOL")
    assert "Encuesta" in bodies(db_engine, outcome.outbox_ids)[-1]
    p = participant(db_engine, settings)
    assert p is not None and p.language == "es"
    follow = say(runtime, "sí")  # Spanish already chosen: not asked for a language again
    assert "barrio" in bodies(db_engine, follow.outbox_ids)[0]


def test_language_keyword_without_run_confirms(runtime: Runtime, db_engine: sa.Engine) -> None:
    say(runtime, "hi")
    say(runtime, "no")
    outcome = say(runtime, "Español")
    assert "español" in bodies(db_engine, outcome.outbox_ids)[0]
    ask = say(runtime, "IDIOMA")
    assert "ENGLISH" in bodies(db_engine, ask.outbox_ids)[0]


# --- compliance keywords --------------------------------------------------------------------


def test_help_answers_and_leaves_the_run_alone(runtime: Runtime, db_engine: sa.Engine,
                                               settings: Settings) -> None:
    say(runtime, "hi")
    say(runtime, "yes")
    with Session(db_engine) as session:
        state_before = session.exec(select(Run)).one().state
    outcome = say(runtime, "help")
    text = bodies(db_engine, outcome.outbox_ids)[0]
    assert settings.program_name in text and "STOP" in text and settings.contact in text
    assert "Msg & data rates may apply" in text
    with Session(db_engine) as session:
        assert session.exec(select(Run)).one().state == state_before
    assert "neighborhood" in bodies(db_engine, say(runtime, "1").outbox_ids)[0]
    ayuda = say(runtime, "AYUDA")
    assert "ALTO" in bodies(db_engine, ayuda.outbox_ids)[0]


@pytest.mark.parametrize("word", ["STOP", "Stop.", "opt out", "ALTO", "cancelar", "Unsubscribe"])
def test_stop_confirms_once_ends_run_and_silences(runtime: Runtime, db_engine: sa.Engine,
                                                  settings: Settings, word: str) -> None:
    say(runtime, "hi")
    outcome = say(runtime, word)
    assert outcome.status == "handled" and outcome.keyword == "opt_out"
    assert len(outcome.outbox_ids) == 1
    with Session(db_engine) as session:
        confirmation = session.get(Outbox, outcome.outbox_ids[0])
        assert confirmation is not None and confirmation.kind == "confirmation"
        assert "START" in (confirmation.body or "")
        assert session.exec(select(Run)).one().status == "ended"
        ledger = session.exec(select(ConsentEntry)).all()
        assert [(e.scope, e.status, e.source) for e in ledger] == [("all", "opted_out", "keyword")]
    assert say(runtime, "yes").status == "ignored"
    assert say(runtime, "STOP").status == "ignored"  # no second confirmation
    with Session(db_engine) as session:
        live = session.exec(select(Outbox).where(Outbox.status != "cancelled")).all()
        assert [o.id for o in live] == list(outcome.outbox_ids)


def test_start_opts_back_in_but_needs_new_consent(runtime: Runtime, db_engine: sa.Engine,
                                                  settings: Settings) -> None:
    for text in SCRIPT[:5]:
        say(runtime, text)
    say(runtime, "STOP")
    outcome = say(runtime, "START")
    texts = bodies(db_engine, outcome.outbox_ids)
    assert "subscribed again" in texts[0] and "Reply YES" in texts[1]
    p = participant(db_engine, settings)
    assert p is not None and not p.opted_out and p.consent_surveys == "withdrawn"
    before = counts(db_engine)["Response"]
    say(runtime, "4")  # not a consent: re-prompted, nothing stored
    assert counts(db_engine)["Response"] == before


def test_delete_erases_and_confirms_once(runtime: Runtime, db_engine: sa.Engine,
                                         settings: Settings) -> None:
    for text in SCRIPT[:12]:
        say(runtime, text)
    p = participant(db_engine, settings)
    assert p is not None and results(db_engine, p.id or 0)
    message = inbound("BORRAR", provider_id="SMdelete")
    outcome = runtime.handle_inbound(message)
    assert outcome.keyword == "delete" and len(outcome.outbox_ids) == 1
    assert participant(db_engine, settings) is None  # nothing ties back to the number
    with Session(db_engine) as session:
        tomb = session.get(Participant, p.id)
        assert tomb is not None and tomb.erased_at is not None and tomb.address_enc is None
        assert session.exec(select(Response)).all() == []
        assert session.exec(select(Run)).all() == []
        assert all(m.participant_id is None and m.body is None
                   for m in session.exec(select(Message)))
        confirmation = session.get(Outbox, outcome.outbox_ids[0])
        assert confirmation is not None and confirmation.status == "pending"
        assert "borramos" in (confirmation.body or "")
        assert confirmation.address_enc is not None  # its own copy: the participant's is gone
        assert privacy.decrypt_address(settings.secret_bytes(),
                                       confirmation.address_enc) == PHONE
        others = session.exec(select(Outbox).where(Outbox.id != confirmation.id)).all()
        assert all(o.body is None for o in others)
        assert "participant.erased" in [a.action for a in session.exec(select(AuditEntry))]
        assert audit.verify(session).ok
    before = counts(db_engine)
    assert runtime.handle_inbound(message).status == "duplicate"
    assert counts(db_engine) == before
    fresh = say(runtime, "hello again")
    assert "Reply YES" in bodies(db_engine, fresh.outbox_ids)[0]


# --- bad input and failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"provider_id": ""}, {"provider_id": "x" * 200}, {"address": "not a number"},
     {"channel": "fax"}, {"received_at": datetime(2026, 7, 1, 12)}, {"media_count": -1},
     {"text": None}],
)
def test_garbled_inbound_is_rejected_and_nothing_stored(runtime: Runtime, db_engine: sa.Engine,
                                                        change: dict[str, Any]) -> None:
    bad = replace(inbound("hi"), **change)
    with pytest.raises(UserError, match="garbled inbound") as info:
        runtime.handle_inbound(bad)
    assert "not a number" not in str(info.value)
    assert counts(db_engine) == dict.fromkeys(counts(db_engine), 0)


def test_database_down_is_retryable(settings: Settings, catalog: FlowCatalog) -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                         connect_args={"connect_timeout": 2})
    runtime = Runtime(engine=engine, settings=settings, catalog=catalog)
    with pytest.raises(RetryableError):
        runtime.handle_inbound(inbound("hi"))


def test_locked_sqlite_is_retryable(settings: Settings, catalog: FlowCatalog,
                                    tmp_path: Path) -> None:
    from engage.storage.db import create_schema

    path = tmp_path / "locked.sqlite3"
    engine = make_engine(f"sqlite:///{path}", busy_timeout_ms=50)
    create_schema(engine)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        runtime = Runtime(engine=engine, settings=settings, catalog=catalog)
        with pytest.raises(RetryableError):
            runtime.handle_inbound(inbound("hi"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert runtime.handle_inbound(inbound("hi")).status == "handled"


@pytest.mark.parametrize("target", ["queue_outbox", "record_consent"])
def test_crash_midway_leaves_nothing(runtime: Runtime, db_engine: sa.Engine,
                                     monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    say(runtime, "hi")
    for text in ("yes", "1", "Canton"):
        say(runtime, text) if target == "queue_outbox" else None
    with Session(db_engine) as session:
        state_before = session.exec(select(Run)).one().state
    before = counts(db_engine)
    original = getattr(repo, target)

    def boom(**kwargs: Any) -> Any:
        raise RuntimeError("injected crash")

    # enqueue runs after the result was written; record_consent runs at the consent answer
    monkeypatch.setattr(repo, target, boom)
    message = inbound("4" if target == "queue_outbox" else "yes", provider_id="SMcrash")
    with pytest.raises(RuntimeError, match="injected"):
        runtime.handle_inbound(message)
    assert counts(db_engine) == before
    with Session(db_engine) as session:
        assert session.exec(select(Run)).one().state == state_before
        assert audit.verify(session).ok
    monkeypatch.setattr(repo, target, original)
    retried = runtime.handle_inbound(message)  # the provider retries: handled exactly once
    assert retried.status == "handled" and retried.outbox_ids
    assert counts(db_engine)["Message"] == before["Message"] + 1


def test_crash_on_first_message_creates_no_participant(runtime: Runtime, db_engine: sa.Engine,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(**kwargs: Any) -> Any:
        raise RuntimeError("injected crash")

    monkeypatch.setattr(repo, "queue_outbox", boom)
    with pytest.raises(RuntimeError):
        say(runtime, "hi")
    assert counts(db_engine) == dict.fromkeys(counts(db_engine), 0)


# --- flow versions, wake-ups, campaigns, provider opt-outs ----------------------------------


def test_runs_finish_on_the_version_they_started_on(db_engine: sa.Engine, settings: Settings,
                                                    tmp_path: Path, clock: Any) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(settings.flows_dir, flows)
    old = Runtime(engine=db_engine, settings=settings, catalog=FlowCatalog(flows), clock=clock)
    say(old, "hi")
    path = flows / "satisfaction.yaml"
    path.write_text(path.read_text().replace("Which language do you prefer?",
                                             "NEW WORDING: which language?"))
    new = Runtime(engine=db_engine, settings=settings, catalog=FlowCatalog(flows), clock=clock)
    continuing = say(new, "yes")
    assert "Which language do you prefer?" in bodies(db_engine, continuing.outbox_ids)[0]
    other = "+14105550199"
    say(new, "hi", other)
    fresh = say(new, "yes", other)
    assert "NEW WORDING" in bodies(db_engine, fresh.outbox_ids)[0]
    with Session(db_engine) as session:
        versions = session.exec(select(FlowVersion)).all()
        assert len(versions) == 2
        assert [a.action for a in session.exec(select(AuditEntry))].count("flow.published") == 2


def test_wake_due_sends_a_reminder_held_by_quiet_hours(runtime: Runtime, db_engine: sa.Engine,
                                                       clock: Any) -> None:
    clock.set(datetime(2026, 7, 1, 23, 0, tzinfo=UTC))  # 19:00 in New York
    say(runtime, "hi")
    assert runtime.wake_due(now=clock()) == 0
    clock.advance(hours=24, minutes=30)  # 19:30 next day: not yet quiet
    assert runtime.wake_due(now=clock()) == 1
    clock.advance(hours=3)  # nothing more is due
    assert runtime.wake_due(now=clock()) == 0
    with Session(db_engine) as session:
        reminder = session.exec(select(Outbox).where(Outbox.kind == "reminder")).one()
        assert reminder.body is not None and reminder.body.startswith("Reminder")
        assert reminder.not_before == datetime(2026, 7, 2, 23, 30, tzinfo=UTC)


def test_wake_due_reminder_at_night_waits_for_morning(runtime: Runtime, db_engine: sa.Engine,
                                                      clock: Any) -> None:
    clock.set(datetime(2026, 7, 2, 2, 0, tzinfo=UTC))  # 22:00 New York (a reply: not held)
    say(runtime, "hi")
    clock.advance(hours=24, minutes=5)
    assert runtime.wake_due(now=clock()) == 1
    with Session(db_engine) as session:
        reminder = session.exec(select(Outbox).where(Outbox.kind == "reminder")).one()
        assert reminder.not_before == datetime(2026, 7, 3, 12, 0, tzinfo=UTC)  # 08:00 EDT


def test_start_run_for_campaign(runtime: Runtime, db_engine: sa.Engine, clock: Any) -> None:
    with session_scope(db_engine) as session:
        p = runtime.participant_for(session, "sms", "(410) 555-0100", clock())
        run = runtime.start_run(session=session, participant=p, flow_id="satisfaction",
                                kind="campaign", dedupe_key="campaign:7:p", now=clock(),
                                campaign_id=7)
        assert run is not None and run.campaign_id == 7
        again = runtime.start_run(session=session, participant=p, flow_id="satisfaction",
                                  kind="campaign", dedupe_key="campaign:7:p2", now=clock(),
                                  campaign_id=7)
        assert again is None
    with Session(db_engine) as session:
        rows = session.exec(select(Outbox)).all()
        assert [(o.kind, o.dedupe_key) for o in rows] == [("campaign", "campaign:7:p:0")]
    outcome = say(runtime, "yes")  # the resident answers the campaign's first question
    assert outcome.run_id == run.id


def test_provider_opt_out(runtime: Runtime, db_engine: sa.Engine, settings: Settings,
                          clock: Any) -> None:
    say(runtime, "hi")
    p = participant(db_engine, settings)
    assert p is not None and p.id is not None
    assert runtime.record_provider_opt_out(participant_id=p.id, source="twilio_21610", now=clock())
    assert not runtime.record_provider_opt_out(participant_id=p.id, source="twilio_21610",
                                               now=clock())
    with Session(db_engine) as session:
        assert session.get(Participant, p.id).opted_out  # type: ignore[union-attr]
        assert session.exec(select(Run)).one().status == "ended"
        assert {o.status for o in session.exec(select(Outbox))} == {"cancelled"}
        entry = session.exec(select(ConsentEntry)).one()
        assert (entry.status, entry.source) == ("opted_out", "twilio_21610")


# --- property: nothing but the one confirmation after an opt-out ---------------------------

ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), st.sampled_from(["campaign", "reminder", "invitation"])),
        st.tuples(st.just("start_run"), st.sampled_from(["campaign", "invitation", "reminder"])),
        st.tuples(st.just("wake"), st.integers(1, 80)),
        st.tuples(st.just("text"), st.sampled_from(["yes", "4", "hello", "Canton", "", "no"])),
    ),
    max_size=10,
)


@hyp_settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
@given(before=st.integers(0, 6),
       word=st.sampled_from(["STOP", "stop!", "Alto", "UNSUBSCRIBE", "opt out", "Cancelar",
                             "quit.", "End", "baja", "REVOKE", "stopall", "parar"]),
       actions=ACTIONS)
def test_after_opt_out_only_the_confirmation_goes_out(
    runtime: Runtime, db_engine: sa.Engine, settings: Settings, clock: Any,
    before: int, word: str, actions: list[tuple[Any, ...]],
) -> None:
    address = f"+1410555{next(_ids) % 10000:04d}"
    for text in SCRIPT[:before]:
        say(runtime, text, address)
    with Session(db_engine) as session:
        last_id = session.exec(select(func.max(Outbox.id))).one() or 0
    stop = say(runtime, word, address)
    assert stop.keyword == "opt_out"
    for n, action in enumerate(actions):
        if action[0] == "text":
            say(runtime, action[1], address)
        elif action[0] == "wake":
            clock.advance(hours=action[1])
            runtime.wake_due(now=clock())
        else:
            with session_scope(db_engine) as session:
                p = runtime.participant_for(session, "sms", address, clock())
                key = f"prop:{address}:{n}:{stop.outbox_ids}"
                if action[0] == "enqueue":
                    repo.enqueue_outbox(session=session, participant=p, channel="sms",
                                        body="campaign", kind=action[1], dedupe_key=key,
                                        now=clock())
                else:
                    assert runtime.start_run(session=session, participant=p,
                                             flow_id="satisfaction", kind=action[1],
                                             dedupe_key=key, now=clock(), campaign_id=n) is None
    p = participant(db_engine, settings, address)
    assert p is not None
    with Session(db_engine) as session:
        live = session.exec(select(Outbox).where(Outbox.participant_id == p.id,
                                                 Outbox.status != "cancelled",
                                                 Outbox.id > last_id)).all()
        assert [(o.id, o.kind) for o in live] == [(stop.outbox_ids[0], "confirmation")]
        earlier = session.exec(select(Outbox).where(Outbox.participant_id == p.id,
                                                    Outbox.status == "pending",
                                                    Outbox.id <= last_id)).all()
        assert earlier == []


# --- concurrency ------------------------------------------------------------------------------


def test_200_messages_from_20_people_at_once(runtime: Runtime, db_engine: sa.Engine,
                                             settings: Settings) -> None:
    """Each resident's 10 messages arrive in order, every one delivered twice at the same time
    (provider retries). Results must match each person's own answers exactly once."""
    people = [f"+1443555{i:04d}" for i in range(20)]
    answers = {a: [str(1 + (i + j) % 5) for j in range(5)] for i, a in enumerate(people)}

    def script(address: str) -> list[str]:
        d, n, r, lis, s = answers[address]
        return ["hi", "yes", "1", "Canton", d, n, r, lis, "called for help", s]

    errors: list[BaseException] = []
    barrier = threading.Barrier(40)

    def deliver(message: Inbound) -> None:
        for _ in range(50):
            try:
                runtime.handle_inbound(message)
                return
            except RetryableError:
                continue
        raise AssertionError("never handled")

    def resident(address: str, copy: int) -> None:
        try:
            barrier.wait()
            for step, text in enumerate(script(address)):
                deliver(inbound(text, address, provider_id=f"{address}-{step}"))
                pair_barriers[address].wait()  # both copies done before the next message
        except BaseException as exc:
            errors.append(exc)

    pair_barriers = {a: threading.Barrier(2) for a in people}
    threads = [threading.Thread(target=resident, args=(a, c)) for a in people for c in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors[:3]
    flow = runtime.catalog.get("satisfaction")
    for address in people:
        p = participant(db_engine, settings, address)
        assert p is not None
        got = results(db_engine, p.id or 0)
        d, n, r, lis, s = answers[address]
        assert {k: v for k, v in got.items() if k != "contact_satisfaction"} == {
            "language": "en", "area": "Canton", "safe_day": d, "safe_night": n,
            "trust_respect": r, "trust_listen": lis, "contact_type": "called_for_help"}
        assert got["contact_satisfaction"] == s
        # the oracle: the pure engine fed the same replies in order, once each
        now = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
        step = engine.start(flow, now=now, language="en")
        expected = [e.text for e in step.events if isinstance(e, Say)]
        for text in script(address)[1:]:
            step = engine.resume(flow, step.state, text, now=now)
            expected += [e.text for e in step.events if isinstance(e, Say)]
        with Session(db_engine) as session:
            sent = [o.body for o in session.exec(
                select(Outbox).where(Outbox.participant_id == p.id).order_by(Outbox.id))]
        assert sent == expected  # every prompt in order, each exactly once
    with Session(db_engine) as session:
        assert session.exec(select(func.count()).select_from(Message)).one() == 200
        assert session.exec(select(func.count()).select_from(Participant)).one() == 20
        assert session.exec(select(func.count()).select_from(Run)).one() == 20
        assert audit.verify(session).ok


# --- privacy of logs and analytics tables -------------------------------------------------


def test_no_pii_in_logs_or_analytics_tables(runtime: Runtime, db_engine: sa.Engine,
                                            caplog: pytest.LogCaptureFixture) -> None:
    from engage.logging import JsonFormatter

    planted = ["410-555-1234", "4105551234", "jane.doe@example.org", "1200 N Charles",
               PHONE, "5550100"]
    caplog.set_level(logging.DEBUG)
    say(runtime, "hi, I'm at 1200 N Charles St, 410-555-1234")
    for text in SCRIPT[1:]:
        say(runtime, text)
    say(runtime, "jane.doe@example.org")
    say(runtime, "HELP")
    formatter = JsonFormatter()
    logged = caplog.text + "\n".join(formatter.format(r) for r in caplog.records)
    assert any(r.name == "engage.runtime" for r in caplog.records)
    for secret in planted:
        assert secret not in logged
    with Session(db_engine) as session:
        analytic = [*session.exec(select(Response)), *session.exec(select(Participant)),
                    *session.exec(select(Run)), *session.exec(select(ConsentEntry)),
                    *session.exec(select(AuditEntry))]
        dump = "\n".join(repr(row.model_dump()) for row in analytic)
    for secret in planted:
        assert secret not in dump


def test_keywords_from_a_stranger(runtime: Runtime, db_engine: sa.Engine,
                                  settings: Settings) -> None:
    """HELP or STOP as the very first message: answered, and STOP is remembered."""
    helped = say(runtime, "INFO", "+14105550111")
    assert "Msg & data rates may apply" in bodies(db_engine, helped.outbox_ids)[0]
    assert counts(db_engine)["Run"] == 0  # HELP does not start a survey
    stopped = say(runtime, "parar", "+14105550122")
    assert "baja" in bodies(db_engine, stopped.outbox_ids)[0]
    p = participant(db_engine, settings, "+14105550122")
    assert p is not None and p.opted_out
    assert say(runtime, "hola", "+14105550122").status == "ignored"
    assert counts(db_engine)["Run"] == 0


def test_two_messages_from_one_person_at_once_are_serialized(
    runtime: Runtime, db_engine: sa.Engine, settings: Settings
) -> None:
    """Two different replies arriving at the same moment must both be applied, one after
    the other, to successive states (no lost update): without the per-person lock both would
    answer the same question."""
    people = [f"+1667555{i:04d}" for i in range(10)]
    for address in people:
        for text in ("hi", "yes", "1", "Canton"):  # now waiting on safe_day
            say(runtime, text, address)
    barrier = threading.Barrier(len(people) * 2)
    errors: list[BaseException] = []

    def send(address: str, text: str, n: int) -> None:
        try:
            barrier.wait()
            for _ in range(50):
                try:
                    runtime.handle_inbound(inbound(text, address, provider_id=f"{address}-x{n}"))
                    return
                except RetryableError:
                    continue
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(a, t, n))
               for a in people for n, t in enumerate(("2", "5"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    for address in people:
        p = participant(db_engine, settings, address)
        assert p is not None
        got = results(db_engine, p.id or 0)
        assert {got["safe_day"], got["safe_night"]} == {"2", "5"}
        with Session(db_engine) as session:
            run = session.exec(select(Run).where(Run.participant_id == p.id)).one()
            assert json.loads(run.state)["node"] == "trust_respect"


def test_a_failing_message_in_a_shared_batch_fails_alone(
    runtime: Runtime, db_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages that arrive together share a transaction; one that crashes is rolled back
    and the others are handled again one per transaction: each stored exactly once."""
    people = [f"+1202555{i:04d}" for i in range(8)]
    for address in people:
        say(runtime, "hi", address)
    entered = threading.Event()
    real_classify = compliance.classify

    def classify(text: str) -> Any:
        if text == "slow":  # holds the first batch open so the others queue behind it
            entered.set()
            time.sleep(0.3)
        if text == "boom":
            raise RuntimeError("injected crash")
        return real_classify(text)

    monkeypatch.setattr(compliance, "classify", classify)
    before = runtime.batch_stats
    outcomes: dict[str, Any] = {}

    def send(address: str, text: str) -> None:
        try:
            outcomes[address] = runtime.handle_inbound(
                inbound(text, address, provider_id=f"{address}-batch"))
        except RuntimeError as exc:
            outcomes[address] = exc

    first = threading.Thread(target=send, args=(people[0], "slow"))
    first.start()
    assert entered.wait(10)
    rest = [threading.Thread(target=send, args=(a, "boom" if a == people[3] else "yes"))
            for a in people[1:]]
    for t in rest:
        t.start()
    for t in [first, *rest]:
        t.join(timeout=60)
    after = runtime.batch_stats
    assert isinstance(outcomes[people[3]], RuntimeError)
    for address in people[:3] + people[4:]:
        assert outcomes[address].status == "handled" and outcomes[address].outbox_ids
    # the seven queued behind "slow" shared one batch, which failed and was redone singly
    assert after["batches"] - before["batches"] < after["jobs"] - before["jobs"]
    with Session(db_engine) as session:
        stored = session.exec(select(Message.provider_id).where(
            col(Message.provider_id).like("%-batch"))).all()
    assert sorted(stored) == sorted(f"{a}-batch" for a in people if a != people[3])
    assert counts(db_engine)["Run"] == len(people)


def _stored_story(engine: sa.Engine, settings: Settings, address: str) -> dict[str, Any]:
    """Everything stored about one resident, without ids: what a batch must reproduce."""
    p = participant(engine, settings, address)
    if p is None:
        return {"participant": None}
    with Session(engine) as session:
        sent = [(o.kind, o.body, o.status) for o in session.exec(
            select(Outbox).where(Outbox.participant_id == p.id).order_by(Outbox.id))]
        runs = [(r.flow_id, r.status, json.loads(r.state).get("node")) for r in session.exec(
            select(Run).where(Run.participant_id == p.id).order_by(Run.id))]
        ledger = [(c.scope, c.status) for c in session.exec(
            select(ConsentEntry).where(ConsentEntry.participant_id == p.id)
            .order_by(ConsentEntry.id))]
        run_ids = list(session.exec(
            select(Run.id).where(Run.participant_id == p.id).order_by(Run.id)))
        # each inbound body with the run it belongs to (by position: ids differ)
        inbound_bodies = [(m.body, run_ids.index(m.run_id) if m.run_id else None)
                          for m in session.exec(
            select(Message).where(Message.participant_id == p.id, Message.direction == "in")
            .order_by(Message.id))]
    return {"opted_out": p.opted_out, "language": p.language, "area": p.area,
            "sent": sent, "runs": runs, "ledger": ledger, "inbound": inbound_bodies,
            "results": results(engine, p.id or 0)}


@pytest.mark.parametrize("sizes", [(2, 3, 5, 1, 4, 7, 2), (16,), (1, 1, 9, 30)])
def test_batches_store_exactly_what_one_by_one_handling_stores(
    runtime: Runtime, db_engine: sa.Engine, settings: Settings, sizes: tuple[int, ...]
) -> None:
    """The oracle is the one-message-per-transaction path: the same residents' messages
    handled in batches (same person several times in one batch, a redelivered message,
    HELP, STOP, START, ESPAÑOL and DELETE mid-batch, first messages of new people) leave
    exactly the same rows behind."""
    scripts = {
        0: ["hi", "yes", "1", "Canton", "4", "4", "2", "HELP", "5", "called for help", "3"],
        1: ["hola", "ESPAÑOL", "si", "2", "Hampden", "STOP", "5", "START", "yes"],
        2: ["hi", "yes", "1", "Fells Point", "DELETE", "hi", "no"],
        3: ["hi", "no", "hi", "yes"],
    }
    flat: list[tuple[int, int, str]] = []  # interleaved: person, step, text
    for step in range(max(len(s) for s in scripts.values())):
        for person, script in scripts.items():
            if step < len(script):
                flat.append((person, step, script[step]))
    flat.insert(6, flat[5])  # a provider redelivery of the same message, in the same batch

    def address(person: int, variant: int) -> str:
        return f"+1301555{variant}{person:03d}"

    for person, step, text in flat:  # one by one
        runtime.handle_inbound(inbound(text, address(person, 1),
                                       provider_id=f"one-{person}-{step}"))
    jobs = [runtime._job(inbound(text, address(person, 2), provider_id=f"batch-{person}-{step}"))
            for person, step, text in flat]
    before = runtime.batch_stats
    position = 0
    for size in itertools.cycle(sizes):
        chunk = jobs[position:position + size]
        if not chunk:
            break
        outcomes = runtime._run_batch(chunk)
        assert not [o for o in outcomes if isinstance(o, BaseException)]
        position += size
    assert runtime.batch_stats == before  # called directly: the group commit queue was not involved
    for person in scripts:
        one, batched = (_stored_story(db_engine, settings, address(person, v)) for v in (1, 2))
        assert batched == one, f"resident {person}"
    with Session(db_engine) as session:
        assert audit.verify(session).ok


def test_batch_outcomes_name_their_own_outbox_rows(runtime: Runtime,
                                                   db_engine: sa.Engine) -> None:
    jobs = [runtime._job(inbound(t, f"+1302555{i:04d}", provider_id=f"ids-{i}"))
            for i, t in enumerate(["hi", "hi", "INFO", "hi"])]
    outcomes = runtime._run_batch(jobs)
    texts = [bodies(db_engine, o.outbox_ids) for o in outcomes]
    assert all(len(t) >= 1 for t in texts)
    assert "Msg & data rates may apply" in texts[2][0]
    assert len({i for o in outcomes for i in o.outbox_ids}) == sum(len(t) for t in texts)
    again = runtime._run_batch(jobs)  # the provider redelivers them all
    assert [o.status for o in again] == ["duplicate"] * 4
    assert [o.outbox_ids for o in again] == [o.outbox_ids for o in outcomes]


def test_a_batch_of_first_messages_reads_each_table_once(runtime: Runtime,
                                                         db_engine: sa.Engine) -> None:
    """New residents cost a batch no reads of their own beyond the insert that makes them:
    the batch's one read of participants already says who is new (no second lookup, no lock,
    no "has runs" check), and their inbound rows get their run by provider id (no read of
    the row's id)."""
    from engage.storage.sql import statement_log

    jobs = [runtime._job(inbound("hi", f"+1303555{i:04d}", provider_id=f"new-{i}"))
            for i in range(5)]
    with statement_log() as ran:
        outcomes = runtime._run_batch(jobs)
    assert [o.status for o in outcomes] == ["handled"] * 5
    selects = [sql for sql in ran if sql.lstrip().upper().startswith("SELECT")]
    from_participant = [sql for sql in selects if "FROM participant" in sql]
    locks = 1 if db_engine.dialect.name == "postgresql" else 0
    assert len(from_participant) == 1 + locks, from_participant
    assert len([sql for sql in selects if "FROM message" in sql]) == 1  # the batch's dedupe
    assert not [sql for sql in selects if "FROM run" in sql]
    inserts = [sql for sql in ran if sql.startswith("INSERT INTO participant")]
    assert len(inserts) == 5
    with Session(db_engine) as session:
        linked = session.exec(select(Message.run_id).where(
            col(Message.provider_id).like("new-%"))).all()
        runs = session.exec(select(Run.id)).all()
    assert len(linked) == 5 and sorted(linked) == sorted(runs)  # type: ignore[type-var]



def test_a_runtime_dropped_without_close_hands_its_connection_back(
        db_engine: sa.Engine, settings: Settings, catalog: FlowCatalog, clock: Any) -> None:
    """The kept connection returns to the pool as soon as the last reference goes, without
    waiting for a full garbage collection (a worker pool would otherwise run dry)."""
    pool: Any = db_engine.pool
    before = pool.checkedout()
    gc.disable()
    try:
        dropped = Runtime(engine=db_engine, settings=settings, catalog=catalog, clock=clock)
        say(dropped, "hello")
        assert pool.checkedout() == before + 1
        del dropped
        assert pool.checkedout() == before
    finally:
        gc.enable()
