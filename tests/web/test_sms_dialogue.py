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
from engage.storage.models import Outbox, Participant, Run
from engage.storage.scheduling_models import DialogueSession, SessionRsvp
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
    return Ticks(engine=sms.engine, settings=sms.settings, runtime=sms.dispatcher.runtime)


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
        return dialogue.invite_report(session=session, starter=sms.dispatcher.runtime,
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

