"""Dialogue test helpers: a session, its invitations, RSVPs and outbox keys, residents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sched_helpers import add_resident, deliver, number, rows
from sqlalchemy.engine import Engine
from sqlmodel import select

from engage.config import Settings
from engage.runtime import Runtime
from engage.scheduling import dialogue
from engage.storage.db import session_scope
from engage.storage.tables.scheduling import SessionRsvp

START = datetime(2026, 7, 3, 22, 0, tzinfo=UTC)  # 18:00 EDT


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
        count = dialogue.invite(session=session, starter=rt, session_id=sid, now=clock(),
                                settings=rt.settings)
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
