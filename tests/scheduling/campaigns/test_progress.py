"""Campaign progress, also while the campaign is paused."""

from __future__ import annotations

from typing import Any

from sched_helpers import add_resident, deliver, make_ticks, number, reply
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.runtime import Runtime
from engage.scheduling import campaigns
from engage.storage.db import session_scope
from tests.scheduling.campaigns.helpers import create, progress


def test_a_paused_campaign_still_shows_finished_conversations(
        db_engine: Engine, settings: Settings, rt: Runtime, clock: Any) -> None:
    for i in range(2):
        add_resident(db_engine, rt, number(i), now=clock(), area="Hampden")
    cid = create(db_engine, settings, rt, clock, audience="area:Hampden")
    make_ticks(db_engine, settings, rt).campaigns(clock())
    deliver(rt, clock)
    with session_scope(db_engine) as session:
        campaigns.pause_campaign(session=session, campaign_id=cid, now=clock())
    reply(rt, number(0), "yes", clock)  # completes the one-question poll while paused
    assert progress(db_engine, cid).count("completed") == 1
