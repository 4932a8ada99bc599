"""Campaign test helpers: create one, and read who was invited and where it stands."""

from __future__ import annotations

from typing import Any

from sched_helpers import rows
from sqlalchemy.engine import Engine

from engage.config import Settings
from engage.runtime import Runtime
from engage.scheduling import campaigns
from engage.storage.db import session_scope


def create(engine: Engine, settings: Settings, rt: Runtime, clock: Any, **kw: Any) -> int:
    kw.setdefault("flow_id", "poll")
    with session_scope(engine) as session:
        campaign = campaigns.create_campaign(session=session, settings=settings, now=clock(),
                                             known_flows=rt.catalog, participants=rt, **kw)
        assert campaign.id is not None
        return campaign.id


def invited_ids(engine: Engine, cid: int) -> list[int]:
    """Participants who got an invitation row (with repeats, to catch duplicates)."""
    return [r.participant_id for r in rows(engine, f"campaign:{cid}:")
            if ":invite" in r.dedupe_key and r.participant_id is not None]


def progress(engine: Engine, cid: int) -> campaigns.CampaignProgress:
    with session_scope(engine) as session:
        return campaigns.campaign_progress(session=session, campaign_id=cid)
