"""How much a campaign may send right now: its throttle window, and the time zones of its
waiting recipients that are outside quiet hours."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from engage.config import Settings
from engage.scheduling.clock import THROTTLE_WINDOW, is_quiet
from engage.storage.tables.scheduling import CampaignRecipient


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
