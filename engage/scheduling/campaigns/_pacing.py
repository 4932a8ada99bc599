"""How much a campaign may send right now: its throttle window, and the time zones of its
waiting recipients that are outside quiet hours."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from engage.config import Settings
from engage.scheduling.clock import THROTTLE_WINDOW, is_quiet, throttle_budget
from engage.storage.tables.scheduling import Campaign, CampaignRecipient


def allowed_zones(session: Session, campaign_id: int, statuses: tuple[str, ...],
                  settings: Settings, now: datetime) -> list[str]:
    """Time zones of waiting recipients where it is not quiet hours right now."""
    zones = session.exec(
        select(CampaignRecipient.timezone).distinct().where(
            CampaignRecipient.campaign_id == campaign_id,
            col(CampaignRecipient.status).in_(statuses),
        )
    ).all()
    return [z for z in zones if not is_quiet(now, z, settings.quiet_window)]


def sent_last_minute(session: Session, campaign_id: int, now: datetime) -> int:
    """Campaign messages enqueued in the sliding throttle window."""
    since = now - THROTTLE_WINDOW
    invites = session.execute(
        select(func.coalesce(func.sum(CampaignRecipient.invite_messages), 0)).where(
            CampaignRecipient.campaign_id == campaign_id, col(CampaignRecipient.invited_at) > since
        )
    ).scalar_one()
    reminders = session.execute(
        select(func.count()).select_from(CampaignRecipient).where(
            CampaignRecipient.campaign_id == campaign_id,
            col(CampaignRecipient.last_reminder_at) > since,
        )
    ).scalar_one()
    return int(invites) + int(reminders)


def sending_window(session: Session, campaign: Campaign, statuses: tuple[str, ...],
                   settings: Settings, now: datetime, limit: int) -> tuple[int, list[str]]:
    """How many of ``statuses``' recipients may get a message now (the throttle's budget, at
    most ``limit``) and in which time zones it is not quiet hours: (0, []) when none."""
    assert campaign.id is not None
    throttled = campaign.throttle_per_minute is not None
    budget = throttle_budget(campaign.throttle_per_minute,
                             sent_last_minute(session, campaign.id, now) if throttled else 0,
                             limit)
    if budget <= 0:
        return 0, []
    zones = allowed_zones(session, campaign.id, statuses, settings, now)
    return (budget, zones) if zones else (0, [])
