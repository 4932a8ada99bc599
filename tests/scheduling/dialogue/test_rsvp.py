"""Seats, the waitlist and promotion from it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sched_helpers import make_ticks, number, opt_out, reply, rows
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.runtime import Runtime
from engage.scheduling import dialogue
from engage.storage.db import session_scope
from tests.scheduling.dialogue.helpers import invite, keys, make_session, residents, rsvps


def test_capacity_waitlist_and_promotion(db_engine: Engine, settings: Settings, rt: Runtime,
                                         clock: Any) -> None:
    ids = residents(db_engine, rt, clock, 5)
    sid = make_session(db_engine, settings, clock, capacity=2)
    invite(db_engine, rt, sid, clock)
    ticks = make_ticks(db_engine, settings, rt)
    for i in range(4):  # four say yes, one minute apart: two seats, two on the waitlist
        reply(rt, number(i), "yes" if i != 1 else "I'll be there", clock)
        clock.advance(minutes=1)
    reply(rt, number(4), "no", clock)
    ticks.dialogues(clock())
    status = {pid: r.status for pid, r in rsvps(db_engine, sid).items()}
    assert status == {ids[0]: "yes", ids[1]: "yes", ids[2]: "waitlisted",
                      ids[3]: "waitlisted", ids[4]: "no"}
    told = [r.body for r in rows(db_engine) if r.participant_id == ids[2] and r.kind == "reply"]
    assert "on the waitlist" in told[0]  # the first reply to the "yes" already says so
    assert not any("seat is saved" in body for body in told)

    opt_out(rt, number(0), clock)  # a seat frees up: the first on the waitlist gets it
    ticks.dialogues(clock())
    status = {pid: r.status for pid, r in rsvps(db_engine, sid).items()}
    assert status[ids[0]] == "opted_out" and status[ids[2]] == "yes"
    assert status[ids[3]] == "waitlisted"
    assert any(k.endswith(":promoted") for k in keys(db_engine, ids[2]))

    with session_scope(db_engine) as session:  # someone changes their mind by phone
        dialogue.record_rsvp(session=session, session_id=sid, participant_id=ids[1],
                             answer="no", now=clock(), settings=rt.settings)
    status = {pid: r.status for pid, r in rsvps(db_engine, sid).items()}
    assert status[ids[3]] == "yes"
    with session_scope(db_engine) as session:
        assert dialogue.seats_taken(session, sid) == 2


def test_a_promotion_is_held_by_the_quiet_hours_it_is_given(
        db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    """The settings passed in decide (not the process environment's): a seat freed at noon
    under a 11:00-13:00 quiet window is offered at 13:00."""
    ids = residents(db_engine, rt, clock, 2)
    sid = make_session(db_engine, settings, clock, capacity=1)
    invite(db_engine, rt, sid, clock)
    reply(rt, number(0), "yes", clock)
    reply(rt, number(1), "yes", clock)
    assert rsvps(db_engine, sid)[ids[1]].status == "waitlisted"
    midday = settings.model_copy(update={"quiet_hours": "11:00-13:00"})
    with session_scope(db_engine) as session:  # 12:00 in New York
        dialogue.record_rsvp(session=session, session_id=sid, participant_id=ids[0],
                             answer="no", now=clock(), settings=midday)
    assert rsvps(db_engine, sid)[ids[1]].status == "yes"
    [promoted] = [r for r in rows(db_engine, "dialogue:") if r.dedupe_key.endswith(":promoted")]
    assert promoted.participant_id == ids[1]
    assert promoted.not_before is not None
    assert promoted.not_before.astimezone(UTC) == datetime(2026, 7, 1, 17, 0, tzinfo=UTC)
