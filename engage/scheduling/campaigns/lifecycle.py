"""A campaign's states as staff change them: read, list, start (approve or resume), pause,
cancel; and the close every ending (cancelled, finished) goes through."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from sqlalchemy import update
from sqlmodel import Session, col, select

from engage.errors import UserError
from engage.scheduling.campaigns._audit import audit_campaign
from engage.scheduling.campaigns._outbox import campaign_outbox_update
from engage.scheduling.clock import aware
from engage.storage.tables.scheduling import Campaign, CampaignRecipient

log = logging.getLogger(__name__)

ACTIVE = ("scheduled", "running")


def get_campaign(*, session: Session, campaign_id: int,
                 lock: bool | Literal["share"] = False) -> Campaign:
    """The campaign (``UserError`` if missing). ``lock``: row lock on PostgreSQL, exclusive
    (state changes) or "share" (fan-out batches, which may run side by side)."""
    stmt = select(Campaign).where(Campaign.id == campaign_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=lock == "share")
    campaign = session.exec(stmt).first()
    if campaign is None:
        raise UserError(f"no campaign with id {campaign_id}")
    return campaign


def list_campaigns(*, session: Session) -> list[Campaign]:
    return list(session.exec(select(Campaign).order_by(col(Campaign.id))).all())


def start_campaign(*, session: Session, campaign_id: int, now: datetime,
                   actor: str = "staff") -> Campaign:
    """Approve a draft or resume a paused campaign; held messages are released."""
    campaign = get_campaign(session=session, campaign_id=campaign_id, lock=True)
    if campaign.status in ACTIVE:
        return campaign
    if campaign.status not in ("draft", "paused"):
        raise UserError(f"campaign {campaign_id} is {campaign.status} and cannot be started")
    was_paused = campaign.status == "paused"
    campaign.status = "running" if campaign.materialized_at is not None else "scheduled"
    campaign.updated_at = aware(now)
    if was_paused:
        session.execute(campaign_outbox_update(campaign_id, ("held",)).values(status="pending"))
    session.add(campaign)
    audit_campaign(session, actor, "campaign.started", campaign, now, {})
    return campaign


def pause_campaign(*, session: Session, campaign_id: int, now: datetime,
                   actor: str = "staff") -> Campaign:
    """Stop inviting and reminding; queued, unsent campaign messages are held, not lost."""
    campaign = get_campaign(session=session, campaign_id=campaign_id, lock=True)
    if campaign.status == "paused":
        return campaign
    if campaign.status not in (*ACTIVE, "draft"):
        raise UserError(f"campaign {campaign_id} is {campaign.status} and cannot be paused")
    campaign.status = "paused"
    campaign.updated_at = aware(now)
    session.execute(campaign_outbox_update(campaign_id, ("pending",)).values(status="held"))
    session.add(campaign)
    audit_campaign(session, actor, "campaign.paused", campaign, now, {})
    return campaign


def cancel_campaign(*, session: Session, campaign_id: int, now: datetime,
                    actor: str = "staff") -> Campaign:
    """Cancel for good: nobody else is invited or reminded, queued messages are cancelled."""
    campaign = get_campaign(session=session, campaign_id=campaign_id, lock=True)
    if campaign.status == "cancelled":
        return campaign
    if campaign.status == "finished":
        raise UserError(f"campaign {campaign_id} already finished")
    close_campaign(session, campaign, "cancelled", "cancelled", aware(now))
    audit_campaign(session, actor, "campaign.cancelled", campaign, now, {})
    return campaign


def close_campaign(session: Session, campaign: Campaign, status: str, reason: str,
                   now: datetime) -> None:
    """Finish or cancel: pending recipients are skipped and unsent campaign messages cancelled
    (replies inside runs already under way are not touched)."""
    assert campaign.id is not None
    campaign.status = status
    campaign.finish_reason = reason
    campaign.finished_at = now
    campaign.updated_at = now
    session.add(campaign)
    session.execute(
        update(CampaignRecipient)
        .where(col(CampaignRecipient.campaign_id) == campaign.id,
               col(CampaignRecipient.status) == "pending")
        .values(status="skipped", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(campaign_outbox_update(campaign.id, ("pending", "held"))
                    .values(status="cancelled", error=f"campaign {reason}"))
    log.info("campaign %s %s (%s)", campaign.id, status, reason)
