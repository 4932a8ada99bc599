"""The mediator's time-limited view of who is coming."""

from __future__ import annotations

from typing import Any

import pytest
from sched_helpers import make_ticks, number, reply
from sqlalchemy.engine import Engine
from sqlmodel import select

from engage.config import Settings
from engage.errors import UserError
from engage.runtime import Runtime
from engage.scheduling import dialogue
from engage.storage.db import session_scope
from engage.storage.tables import AuditEntry
from tests.scheduling.dialogue.helpers import invite, make_session, residents


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
