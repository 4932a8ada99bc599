"""Pausing holds a campaign's queued messages; cancelling drops them."""

from __future__ import annotations

from typing import Any

import pytest
from sched_helpers import add_resident, make_ticks, number, rows
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.errors import UserError
from engage.runtime import Runtime
from engage.scheduling import campaigns
from engage.storage.db import session_scope
from tests.scheduling.campaigns.helpers import create, invited_ids


def test_pause_holds_and_cancel_drops(db_engine: Engine, settings: Settings, rt: Runtime,
                                      clock: Any) -> None:
    for i in range(4):
        add_resident(db_engine, rt, number(i), now=clock())
    cid = create(db_engine, settings, rt, clock, throttle_per_minute=2)
    ticks = make_ticks(db_engine, settings, rt)
    ticks.campaigns(clock())
    with session_scope(db_engine) as session:
        campaigns.pause_campaign(session=session, campaign_id=cid, now=clock())
    assert {r.status for r in rows(db_engine, f"campaign:{cid}:")} == {"held"}
    clock.advance(minutes=5)
    ticks.campaigns(clock())
    assert len(invited_ids(db_engine, cid)) == 2
    with session_scope(db_engine) as session:
        campaigns.start_campaign(session=session, campaign_id=cid, now=clock())
    assert {r.status for r in rows(db_engine, f"campaign:{cid}:")} == {"pending"}
    ticks.campaigns(clock())
    assert len(invited_ids(db_engine, cid)) == 4
    with session_scope(db_engine) as session:
        campaigns.cancel_campaign(session=session, campaign_id=cid, now=clock())
        with pytest.raises(UserError):
            campaigns.start_campaign(session=session, campaign_id=cid, now=clock())
    assert {r.status for r in rows(db_engine, f"campaign:{cid}:")} == {"cancelled"}
