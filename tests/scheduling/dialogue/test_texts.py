"""What residents read is in their language, dates included."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sched_helpers import make_ticks, number, reply, rows
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.runtime import Runtime
from engage.storage.db import session_scope
from engage.storage.tables.scheduling import DialogueSession
from tests.scheduling.dialogue.helpers import START, invite, make_session, residents


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
