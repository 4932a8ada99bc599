"""Dialogue sessions on SQLite and PostgreSQL: invitations, capacity, waitlist and promotion,
reminders (quiet hours, never after the start, none when cancelled), check-in, feedback, and
the mediator's time-limited view of contacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sched_helpers import (
    add_resident,
    deliver,
    make_runtime,
    make_ticks,
    number,
    opt_out,
    reply,
    rows,
)
from sqlalchemy.engine import Engine
from sqlmodel import select

from engage.config import Settings
from engage.errors import UserError
from engage.runtime import Runtime
from engage.scheduling import dialogue
from engage.storage.db import session_scope
from engage.storage.models import AuditEntry, Participant
from engage.storage.scheduling_models import DialogueSession, SessionRsvp

START = datetime(2026, 7, 3, 22, 0, tzinfo=UTC)  # 18:00 EDT


@pytest.fixture
def rt(db_engine: Engine, settings: Settings, clock: Any, tmp_path: Path) -> Runtime:
    return make_runtime(db_engine, settings, clock, tmp_path)


def make_session(engine: Engine, settings: Settings, clock: Any, *, capacity: int = 10,
                 start: datetime = START, area: str = "Hampden") -> int:
    with session_scope(engine) as session:
        ds = dialogue.create_session(
            session=session, settings=settings, title="GVRS feedback", area=area,
            place="Hampden library", starts_at=start, ends_at=start + timedelta(hours=2),
            capacity=capacity, mediator="m.jones", now=clock())
        assert ds.id is not None
        return ds.id


def invite(engine: Engine, rt: Runtime, sid: int, clock: Any, *, send: bool = True) -> int:
    """Invite, and send what is due (residents answer invitations they received)."""
    with session_scope(engine) as session:
        count = dialogue.invite(session=session, starter=rt, session_id=sid, now=clock())
    if send:
        deliver(rt, clock)
    return count


def rsvps(engine: Engine, sid: int) -> dict[int, SessionRsvp]:
    with session_scope(engine) as session:
        found = session.exec(select(SessionRsvp).where(SessionRsvp.session_id == sid)).all()
        return {r.participant_id: r for r in found}


def keys(engine: Engine, pid: int) -> list[str]:
    return [r.dedupe_key for r in rows(engine, "dialogue:") if r.participant_id == pid]


def residents(engine: Engine, rt: Runtime, clock: Any, n: int, **kw: Any) -> list[int]:
    kw.setdefault("area", "Hampden")
    kw.setdefault("dialogue", "granted")
    return [add_resident(engine, rt, number(i), now=clock(), **kw) for i in range(n)]


def test_invitations_go_to_opted_in_residents_of_the_area_on_both_channels(
        db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    sms = residents(db_engine, rt, clock, 2)
    tg = add_resident(db_engine, rt, "987654321", channel="telegram", now=clock(),
                      area="Medfield", district="Hampden", dialogue="granted")
    add_resident(db_engine, rt, number(20), now=clock(), area="Hampden")  # not opted in
    add_resident(db_engine, rt, number(21), now=clock(), area="Canton", dialogue="granted")
    stopped = add_resident(db_engine, rt, number(22), now=clock(), area="Hampden",
                           dialogue="granted", opted_out=True)
    sid = make_session(db_engine, settings, clock)
    assert invite(db_engine, rt, sid, clock) == 3
    assert invite(db_engine, rt, sid, clock) == 0  # idempotent
    invited = rows(db_engine, f"dialogue:{sid}:")
    assert sorted({r.participant_id for r in invited}) == sorted([*sms, tg])
    assert {r.channel for r in invited} == {"sms", "telegram"}
    assert {r.kind for r in invited} == {"invitation"}
    assert "GVRS feedback" in invited[0].body and "Hampden library" in invited[0].body
    assert not keys(db_engine, stopped)


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
                             answer="no", now=clock())
    status = {pid: r.status for pid, r in rsvps(db_engine, sid).items()}
    assert status[ids[3]] == "yes"
    with session_scope(db_engine) as session:
        assert dialogue.seats_taken(session, sid) == 2


def test_reminders_24h_and_2h_never_after_start(db_engine: Engine, settings: Settings,
                                               rt: Runtime, clock: Any) -> None:
    ids = residents(db_engine, rt, clock, 3)
    sid = make_session(db_engine, settings, clock)
    invite(db_engine, rt, sid, clock)
    reply(rt, number(0), "yes", clock)
    reply(rt, number(1), "maybe", clock)
    reply(rt, number(2), "no", clock)
    ticks = make_ticks(db_engine, settings, rt)
    for moment in (START - timedelta(hours=30), START - timedelta(hours=24),
                   START - timedelta(hours=20), START - timedelta(hours=2),
                   START - timedelta(minutes=30), START, START + timedelta(hours=1)):
        clock.set(moment)
        ticks.dialogues(clock())
    reminders = [r for r in rows(db_engine, f"dialogue:{sid}:") if ":reminder:" in r.dedupe_key]
    got = sorted((r.participant_id, r.dedupe_key.rsplit(":", 1)[1], r.created_at)
                 for r in reminders)
    assert got == sorted([
        (ids[0], "24h", START - timedelta(hours=24)), (ids[0], "2h", START - timedelta(hours=2)),
        (ids[1], "24h", START - timedelta(hours=24)), (ids[1], "2h", START - timedelta(hours=2)),
    ])
    assert all(r.kind == "reminder" and r.not_before < START for r in reminders)


def test_reminders_respect_quiet_hours(db_engine: Engine, settings: Settings, rt: Runtime,
                                       clock: Any) -> None:
    residents(db_engine, rt, clock, 1, tz="America/New_York")
    nine = datetime(2026, 7, 3, 13, 0, tzinfo=UTC)  # 09:00 EDT: the 2h reminder falls at 07:00
    early = datetime(2026, 7, 4, 11, 30, tzinfo=UTC)  # 07:30 EDT: quiet until after the start
    late_sid = make_session(db_engine, settings, clock, start=nine)
    early_sid = make_session(db_engine, settings, clock, start=early, area="Hampden")
    for sid in (late_sid, early_sid):
        invite(db_engine, rt, sid, clock)
        reply(rt, number(0), "yes", clock)
    ticks = make_ticks(db_engine, settings, rt)
    for minutes in range(0, 50 * 60, 15):  # through both starts
        clock.set(datetime(2026, 7, 2, 10, 0, tzinfo=UTC) + timedelta(minutes=minutes))
        ticks.dialogues(clock())
    sent = [r for r in rows(db_engine, "dialogue:") if ":reminder:" in r.dedupe_key]
    for row in sent:
        local = row.not_before.astimezone(settings_zone(settings))
        assert not (local.hour >= 21 or local.hour < 8), row.dedupe_key
    two_hour = [r for r in sent if r.dedupe_key.endswith(":2h")]
    assert [r.dedupe_key.split(":")[1] for r in two_hour] == [str(late_sid)]
    assert two_hour[0].created_at == datetime(2026, 7, 3, 12, 0, tzinfo=UTC)  # 08:00 EDT


def settings_zone(settings: Settings) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(settings.timezone)


def test_no_reminders_for_a_cancelled_session(db_engine: Engine, settings: Settings,
                                              rt: Runtime, clock: Any) -> None:
    ids = residents(db_engine, rt, clock, 1)
    sid = make_session(db_engine, settings, clock)
    invite(db_engine, rt, sid, clock)
    reply(rt, number(0), "yes", clock)
    ids.append(add_resident(db_engine, rt, number(1), now=clock(), area="Hampden",
                            dialogue="granted"))
    invite(db_engine, rt, sid, clock, send=False)  # still queued when the session is cancelled
    ticks = make_ticks(db_engine, settings, rt)
    ticks.dialogues(clock())
    with session_scope(db_engine) as session:
        dialogue.cancel_session(session=session, session_id=sid, now=clock())
    for hours in (24, 2):
        clock.set(START - timedelta(hours=hours))
        ticks.dialogues(clock())
    clock.set(START + timedelta(hours=4))
    ticks.dialogues(clock())
    mine = rows(db_engine, f"dialogue:{sid}:")
    assert not [r for r in mine if ":reminder:" in r.dedupe_key or ":feedback" in r.dedupe_key]
    assert [r.participant_id for r in mine if r.dedupe_key.endswith(":cancelled")] == [ids[0]]
    unanswered = [r for r in mine if r.participant_id == ids[1]]
    assert {r.status for r in unanswered} == {"cancelled"}  # the queued invitation is dropped


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


def test_mediator_sees_contacts_of_own_yes_only_until_closed(
        db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    residents(db_engine, rt, clock, 3)
    sid = make_session(db_engine, settings, clock)
    invite(db_engine, rt, sid, clock)
    reply(rt, number(0), "yes", clock)
    reply(rt, number(1), "no", clock)
    make_ticks(db_engine, settings, rt).dialogues(clock())
    secret = settings.secret_bytes()
    with session_scope(db_engine) as session:
        contacts = dialogue.mediator_contacts(session=session, session_id=sid,
                                              mediator="m.jones", now=clock(), secret=secret)
        assert [c.address for c in contacts] == [number(0)]
        with pytest.raises(UserError, match="mediator"):
            dialogue.mediator_contacts(session=session, session_id=sid, mediator="someone",
                                       now=clock(), secret=secret)
        audit = session.exec(select(AuditEntry).where(
            AuditEntry.action == "dialogue.contacts_viewed")).all()
        assert len(audit) == 1 and number(0) not in audit[0].details
    with session_scope(db_engine) as session:
        dialogue.close_session(session=session, session_id=sid, now=clock())
    with session_scope(db_engine) as session, pytest.raises(UserError, match="closed"):
        dialogue.mediator_contacts(session=session, session_id=sid, mediator="m.jones",
                                   now=clock(), secret=secret)


def test_session_closes_itself_a_day_after_the_end(db_engine: Engine, settings: Settings,
                                                   rt: Runtime, clock: Any) -> None:
    sid = make_session(db_engine, settings, clock)
    clock.set(START + timedelta(hours=27))
    report = make_ticks(db_engine, settings, rt).dialogues(clock())
    assert report.closed == [sid]


def test_bad_sessions_are_refused(db_engine: Engine, settings: Settings, clock: Any) -> None:
    with session_scope(db_engine) as session, pytest.raises(UserError) as err:
        dialogue.create_session(session=session, settings=settings, title=" ", area="X",
                                place="Y", starts_at=START, ends_at=START, capacity=0,
                                mediator="m", now=clock())
    message = str(err.value)
    assert "title" in message and "end" in message and "capacity" in message


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


def test_spanish_invitation_and_reminder_have_spanish_dates(
        db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    (pid,) = residents(db_engine, rt, clock, 1, language="es")
    sid = make_session(db_engine, settings, clock)
    with session_scope(db_engine) as session:
        ds = session.get(DialogueSession, sid)
        assert ds is not None
        ds.place = "123 Main St."
        session.add(ds)
    invite(db_engine, rt, sid, clock)
    (invitation,) = [r.body for r in rows(db_engine, "dialogue:") if r.participant_id == pid]
    # 2026-07-03 22:00 UTC is a Friday, 6 PM in Baltimore
    assert invitation is not None
    assert "GVRS feedback, viernes 3 de julio, 6:00 p. m. en 123 Main St. ¿Puede" in invitation
    assert "Fri" not in invitation and "St.." not in invitation
    reply(rt, number(0), "sí", clock)
    clock.set(START - timedelta(hours=23))
    make_ticks(db_engine, settings, rt).dialogues(clock())
    reminders = [r.body for r in rows(db_engine, "dialogue:")
                 if r.participant_id == pid and r.kind == "reminder"]
    assert reminders and all("viernes 3 de julio" in (b or "") for b in reminders)
    assert not any("St.." in (b or "") for b in reminders)
