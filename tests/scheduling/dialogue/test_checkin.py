"""Check-in by code (through the runtime) and by hand, feedback to attendees, and what is taken for
a code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sched_helpers import add_resident, make_ticks, number, reply, rows
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.runtime import Runtime
from engage.scheduling import dialogue
from engage.storage.db import session_scope
from engage.storage.tables import Participant
from engage.storage.tables.scheduling import DialogueSession
from tests.scheduling.dialogue.helpers import START, invite, make_session, residents, rsvps


def test_checkin_feedback_and_counts(db_engine: Engine, settings: Settings, rt: Runtime,
                                     clock: Any) -> None:
    ids = residents(db_engine, rt, clock, 3)
    walk_in = add_resident(db_engine, rt, number(30), now=clock(), area="Canton")
    sid = make_session(db_engine, settings, clock)
    invite(db_engine, rt, sid, clock)
    for i in range(3):
        reply(rt, number(i), "yes", clock)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.dialogues(clock())
    with session_scope(db_engine) as session:
        ds = session.get(DialogueSession, sid)
        assert ds is not None
        code = ds.checkin_code
        p0 = session.get(Participant, ids[0])
        assert p0 is not None
        assert not dialogue.match_checkin(ds, p0, code, clock())  # two days early
        assert dialogue.match_checkin(ds, p0, f"check in {code.lower()}", START)
        assert not dialogue.match_checkin(ds, p0, "yes", START)
    clock.set(START + timedelta(minutes=10))
    with session_scope(db_engine) as session:
        for pid, text in ((ids[0], code), (ids[1], f"#{code.lower()}"), (walk_in, code),
                          (ids[0], code)):
            p = session.get(Participant, pid)
            assert p is not None
            assert dialogue.handle_checkin(session=session, participant=p, text=text,
                                           now=clock()) is not None
        p2 = session.get(Participant, ids[2])
        assert p2 is not None
        assert dialogue.handle_checkin(session=session, participant=p2, text="5",
                                       now=clock()) is None
    clock.set(START + timedelta(hours=2, minutes=30))  # half an hour after the end: too soon
    ticks.dialogues(clock())
    assert not [r for r in rows(db_engine, f"dialogue:{sid}:") if ":feedback" in r.dedupe_key]
    clock.set(START + timedelta(hours=3))
    ticks.dialogues(clock())
    ticks.dialogues(clock())
    feedback = [r for r in rows(db_engine, f"dialogue:{sid}:") if ":feedback" in r.dedupe_key]
    # the walk-in never agreed to dialogue messages: attendance counts, nothing is sent
    assert sorted({r.participant_id for r in feedback}) == sorted([ids[0], ids[1]])
    assert "GVRS feedback" in feedback[0].body
    reply(rt, number(0), "5", clock)
    with session_scope(db_engine) as session:
        stats = dialogue.session_stats(session=session, session_id=sid).to_dict()
    assert (stats["yes"], stats["walk_in"], stats["attended"], stats["feedback_sent"]) == (
        3, 1, 3, 2)


def test_texting_the_code_checks_in_through_the_runtime(db_engine: Engine, settings: Settings,
                                                        rt: Runtime, clock: Any) -> None:
    ids = residents(db_engine, rt, clock, 1)
    sid = make_session(db_engine, settings, clock)
    invite(db_engine, rt, sid, clock)
    reply(rt, number(0), "yes", clock)
    with session_scope(db_engine) as session:
        ds = session.get(DialogueSession, sid)
        assert ds is not None
        code = ds.checkin_code
    clock.set(START + timedelta(minutes=5))
    outcome = reply(rt, number(0), f"checkin {code}", clock)
    assert outcome.status == "handled" and len(outcome.outbox_ids) == 1
    assert rsvps(db_engine, sid)[ids[0]].checked_in_at == START + timedelta(minutes=5)
    welcome = [r for r in rows(db_engine) if r.id in outcome.outbox_ids]
    assert "checked in" in welcome[0].body and welcome[0].kind == "reply"
    later = reply(rt, number(0), "none", clock)  # other replies still reach the flow
    assert later.run_id is not None


def test_only_what_new_checkin_code_can_make_is_taken_for_a_code() -> None:
    """Survey answers never cost a check-in query: words, numbers and look-alikes are out."""
    assert all(dialogue.could_be_code(dialogue.new_checkin_code()) for _ in range(500))
    for text in ("Hello", "skip", "12345", "Hampden", "K7P2", "K7P2XY", "K0P2X", "KIP2X"):
        assert dialogue.checkin_code(text) is None, text
    assert dialogue.checkin_code("check in k7p2x") == "K7P2X"
    assert dialogue.checkin_code("#K7-P2X") == "K7P2X"


def test_a_repeated_checkin_code_is_answered_again(db_engine: Engine, settings: Settings,
                                                   rt: Runtime, clock: Any) -> None:
    residents(db_engine, rt, clock, 1)
    sid = make_session(db_engine, settings, clock)
    with session_scope(db_engine) as session:
        ds = session.get(DialogueSession, sid)
        assert ds is not None
        code = ds.checkin_code
    clock.set(START + timedelta(minutes=5))
    first = reply(rt, number(0), code, clock)
    clock.advance(minutes=1)
    again = reply(rt, number(0), code, clock)  # "did it work?"
    assert len(first.outbox_ids) == 1 and len(again.outbox_ids) == 1
    bodies = {r.id: r.body for r in rows(db_engine)}
    assert "You're checked in" in bodies[first.outbox_ids[0]]
    assert "already checked in to GVRS feedback" in bodies[again.outbox_ids[0]]
