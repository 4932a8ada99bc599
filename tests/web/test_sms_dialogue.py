"""Dialogue sessions end to end by SMS: residents agree to invitations through the real survey
over the signed webhook, the scheduler's ticks run on a controlled clock, and what each phone
receives is read from the fake Twilio API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, func, select

from engage.errors import UserError
from engage.scheduling import dialogue
from engage.scheduling.ticks import Ticks
from engage.storage.db import session_scope
from engage.storage.tables import Outbox, Participant
from engage.storage.tables.scheduling import DialogueSession, SessionRsvp
from tests.web.conftest import SmsHarness

# the whole survey, agreeing to dialogue invitations at the end
SURVEY = ["YES", "1", "Hampden", "4", "2", "3", "4", "5", "More street lights", "yes", "2",
          "skip", "yes"]
NOON = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)  # 12:00 in Baltimore (EDT)


def phone(i: int) -> str:
    return f"+1410555{7000 + i:04d}"


async def join(sms: SmsHarness, number: str) -> None:
    """A resident takes the survey and agrees to dialogue invitations (the real path)."""
    await sms.say("Hi", from_=number)
    for text in SURVEY:
        await sms.say(text, from_=number)


def ticks(sms: SmsHarness) -> Ticks:
    return Ticks(engine=sms.engine, settings=sms.settings, runtime=sms.runtime)


def create(sms: SmsHarness, clock: Any, *, starts_at: datetime, capacity: int = 10) -> int:
    with session_scope(sms.engine) as session:
        ds = dialogue.create_session(
            session=session, settings=sms.settings, title="GVRS feedback", area="Hampden",
            place="Hampden library", starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=2), capacity=capacity, mediator="m.jones",
            now=clock())
        assert ds.id is not None
        return ds.id


def invite(sms: SmsHarness, clock: Any, sid: int) -> dialogue.InviteReport:
    with session_scope(sms.engine) as session:
        return dialogue.invite_report(session=session, starter=sms.runtime,
                                      session_id=sid, settings=sms.settings,
                                      now=clock())


def code_of(sms: SmsHarness, sid: int) -> str:
    with session_scope(sms.engine) as session:
        ds = session.get(DialogueSession, sid)
        assert ds is not None
        return ds.checkin_code


def statuses(sms: SmsHarness, sid: int) -> list[str]:
    with session_scope(sms.engine) as session:
        return [r.status for r in session.exec(
            select(SessionRsvp).where(SessionRsvp.session_id == sid)
            .order_by(col(SessionRsvp.participant_id))).all()]


def participants(sms: SmsHarness) -> int:
    with session_scope(sms.engine) as session:
        return int(session.execute(select(func.count()).select_from(Participant)).scalar_one())


# --- 1. nothing goes to a number that never agreed ---------------------------------------


async def test_checkin_by_a_mistyped_number_is_reported_and_nothing_is_sent_to_it(
        sms: SmsHarness, clock: Any) -> None:
    await join(sms, phone(1))
    sid = create(sms, clock, starts_at=NOON + timedelta(days=2, hours=4))  # 16:00 local
    clock.set(NOON + timedelta(days=2, hours=4, minutes=10))  # during the session
    before = participants(sms)
    with session_scope(sms.engine) as session, pytest.raises(UserError) as err:
        ds = dialogue.get_session(session=session, session_id=sid)
        dialogue.check_in_number(session=session, ds=ds, address="+15559999999",
                                 secret=sms.settings.secret_bytes(), now=clock())
    assert "9999" in str(err.value) and "nothing was recorded" in str(err.value)
    assert participants(sms) == before  # the mistyped number was not created
    with session_scope(sms.engine) as session:
        ds = dialogue.get_session(session=session, session_id=sid)
        assert dialogue.check_in_number(session=session, ds=ds, address=phone(1),
                                        secret=sms.settings.secret_bytes(), now=clock())
    # a walk-in who never agreed to dialogue messages texts the code: welcomed, nothing more
    [welcome] = await sms.say(code_of(sms, sid), from_=phone(2))
    assert "checked in" in welcome
    clock.set(NOON + timedelta(days=2, hours=7))  # an hour after the end: feedback time
    ticks(sms).dialogues(clock())
    await sms.deliver()
    assert any("Thank you for joining GVRS feedback" in b for b in sms.api.bodies_to(phone(1)))
    assert sms.api.bodies_to(phone(2)) == [welcome]
    assert sms.api.bodies_to("+15559999999") == []



def local(day: int, hour: int, minute: int = 0) -> datetime:
    """``day`` days after July 1 2026 at hour:minute in Baltimore (EDT, UTC-4)."""
    return NOON + timedelta(days=day, hours=hour - 12, minutes=minute)


async def received(sms: SmsHarness, clock: Any) -> None:
    """The scheduler's ticks, then the dispatcher, at the clock's time."""
    ticks(sms).run_all(clock())
    await sms.deliver()


# --- 2. nothing arrives after the start ------------------------------------------------


async def test_invitations_that_would_arrive_after_the_start_are_not_sent(
        sms: SmsHarness, clock: Any) -> None:
    await join(sms, phone(1))
    await join(sms, phone(2))
    clock.set(local(1, 6, 50))  # quiet hours until 08:00; the session starts at 07:30
    sid = create(sms, clock, starts_at=local(1, 7, 30))
    report = invite(sms, clock, sid)
    assert (report.queued, report.late_quiet, report.late_rate) == (0, 2, 0)
    assert report.quiet_until == local(1, 8)
    clock.set(local(1, 8, 5))
    await received(sms, clock)
    assert not any("invited" in b for n in (1, 2) for b in sms.api.bodies_to(phone(n)))


async def test_a_slow_send_queue_makes_invitations_late(sms: SmsHarness, clock: Any) -> None:
    for n in (1, 2, 3):
        await join(sms, phone(n))
    sid = create(sms, clock, starts_at=clock() + timedelta(seconds=90))
    slow = sms.settings.model_copy(update={"sms_rate_per_second": 1 / 60})  # one a minute
    with session_scope(sms.engine) as session:
        report = dialogue.invite_report(session=session, starter=sms.runtime,
                                        session_id=sid, settings=slow, now=clock())
    assert (report.queued, report.late_rate) == (2, 1)  # the third would go at +120 s


async def test_queued_prompts_that_can_no_longer_arrive_in_time_are_dropped(
        sms: SmsHarness, clock: Any) -> None:
    for n in (1, 2, 3):
        await join(sms, phone(n))
    sid = create(sms, clock, starts_at=local(2, 7, 30), capacity=1)
    assert invite(sms, clock, sid).queued == 3
    await sms.deliver()
    await sms.say("yes", from_=phone(1))  # the seat
    await sms.say("yes", from_=phone(2))  # the waitlist
    clock.set(local(1, 23))  # phone 1 cancels late at night: phone 2's seat message is held
    with session_scope(sms.engine) as session:
        dialogue.record_rsvp(session=session, session_id=sid, participant_id=1, answer="no",
                             now=clock(), settings=sms.settings)
    await received(sms, clock)
    with session_scope(sms.engine) as session:
        promoted = session.exec(select(Outbox).where(
            col(Outbox.dedupe_key).like(f"dialogue:{sid}:p:%:promoted%"))).one()
    assert promoted.status == "cancelled" and promoted.error == dialogue.LATE_REASON
    for moment in (local(2, 7, 30), local(2, 8, 1), local(3, 9)):  # start, quiet end, +2 days
        clock.set(moment)
        await received(sms, clock)
    assert not any("seat opened" in b for b in sms.api.bodies_to(phone(2)))
    # phone 3 never answered: no RSVP prompt about a session already under way or over
    assert [b for b in sms.api.bodies_to(phone(3)) if "GVRS" in b] == [
        b for b in sms.api.bodies_to(phone(3)) if b.startswith("You're invited")]


# --- 3. the first reply is the truth ---------------------------------------------------


async def test_rsvp_replies_never_contradict_each_other(sms: SmsHarness, clock: Any) -> None:
    for n in (1, 2, 3, 4):
        await join(sms, phone(n))
    sid = create(sms, clock, starts_at=local(3, 18), capacity=2)
    assert invite(sms, clock, sid).queued == 4
    await sms.deliver()
    first = await sms.say("yes", from_=phone(1))
    assert "your seat is saved" in first[0]
    # two more yes at the same moment, for one seat left
    import asyncio

    await asyncio.gather(sms.text("yes", from_=phone(2)), sms.text("yes", from_=phone(3)))
    await sms.deliver()
    replies = {n: sms.api.bodies_to(phone(n))[-2] for n in (2, 3)}
    assert sorted("seat is saved" in r for r in replies.values()) == [False, True]
    assert sorted("waitlist" in r for r in replies.values()) == [False, True]
    maybe = await sms.say("maybe", from_=phone(4))
    assert not any("seat" in m and "saved" in m for m in maybe)
    for n in (1, 2, 3, 4):
        await sms.say("none", from_=phone(n))
    ends = {n: sms.api.bodies_to(phone(n))[-1] for n in (1, 2, 3, 4)}
    waitlisted = next(n for n in (2, 3) if "waitlist" in replies[n])
    assert "save you a seat" in ends[1] and "waitlist" in ends[waitlisted]
    assert "Seats go to people who say yes" in ends[4]
    before = {n: len(sms.api.bodies_to(phone(n))) for n in (1, 2, 3, 4)}
    clock.advance(seconds=20)
    await received(sms, clock)  # the scheduler's tick adds nothing that contradicts
    assert {n: len(sms.api.bodies_to(phone(n))) for n in (1, 2, 3, 4)} == before
    assert sorted(statuses(sms, sid)) == ["maybe", "waitlisted", "yes", "yes"]


# --- 4. the conversation follows what the resident received ----------------------------


async def test_a_text_before_the_held_invitation_arrives_gets_the_invitation(
        sms: SmsHarness, clock: Any) -> None:
    await join(sms, phone(1))
    clock.set(local(1, 22))  # quiet hours: the invitation is held until 08:00
    sid = create(sms, clock, starts_at=local(3, 18))
    assert invite(sms, clock, sid).queued == 1
    await sms.deliver()
    assert not [b for b in sms.api.bodies_to(phone(1)) if "invited" in b]
    got = await sms.say(code_of(sms, sid), from_=phone(1))  # too early to check in
    assert len(got) == 1 and got[0].startswith("You're invited")
    assert not any("number from 1" in b for b in sms.api.bodies_to(phone(1)))
    assert "seat is saved" in (await sms.say("yes", from_=phone(1)))[0]
    clock.set(local(2, 8, 1))
    await received(sms, clock)
    assert len([b for b in sms.api.bodies_to(phone(1)) if b.startswith("You're invited")]) == 1


async def test_an_unclear_rsvp_is_asked_again_in_the_invitations_own_words(
        sms: SmsHarness, clock: Any) -> None:
    """The invitation says "Reply YES, NO or MAYBE": the re-prompt does not ask for a number
    the resident was never shown."""
    await join(sms, phone(1))
    sid = create(sms, clock, starts_at=NOON + timedelta(days=2, hours=4))
    assert invite(sms, clock, sid).queued == 1
    await sms.deliver()
    assert "Reply YES, NO or MAYBE" in sms.api.bodies_to(phone(1))[-1]
    assert await sms.say("what time again?", from_=phone(1)) == [
        "Sorry, I didn't get that. Please reply YES, NO or MAYBE."]
    [seated, needs] = await sms.say("yes", from_=phone(1))
    assert "seat is saved" in seated and "1 Childcare" in needs
    assert statuses(sms, sid) == ["yes"]
