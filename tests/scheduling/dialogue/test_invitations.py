"""Invitations go to opted-in residents of the area, on both channels."""

from __future__ import annotations

from typing import Any

from sched_helpers import add_resident, number, rows
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.runtime import Runtime
from tests.scheduling.dialogue.helpers import invite, keys, make_session, residents


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
