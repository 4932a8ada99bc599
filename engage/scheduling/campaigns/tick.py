"""The campaign tick: every running campaign's due work as of ``now`` (start, audience
snapshot, status carry-over, cutoff and quotas, invitations, reminders, finishing)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from engage.config import Settings
from engage.scheduling.audience import materialize, parse_audience
from engage.scheduling.campaigns._invites import invite_all
from engage.scheduling.campaigns._recipients import (
    apply_area_quota,
    expire_recipients,
    open_count,
    status_count,
    sync_recipients,
)
from engage.scheduling.campaigns._reminders import remind_batch
from engage.scheduling.campaigns.lifecycle import ACTIVE, close_campaign, get_campaign
from engage.scheduling.clock import aware
from engage.scheduling.starter import RunStarter
from engage.storage.db import session_scope
from engage.storage.tables.scheduling import Campaign

log = logging.getLogger(__name__)


@dataclass
class CampaignTickReport:
    invited: int = 0
    reminded: int = 0
    finished: list[int] = field(default_factory=list)


def run_campaigns(*, engine: Engine, starter: RunStarter, settings: Settings, now: datetime,
                  batch: int = 500, max_invites: int = 50_000,
                  parallel: int = 1) -> CampaignTickReport:
    """Do every campaign's due work as of ``now``; safe to call as often as you like.

    ``parallel`` > 1 fans an unthrottled campaign out from that many threads on PostgreSQL
    (recipient rows are claimed with ``FOR UPDATE SKIP LOCKED``, so no two threads, or two
    leaders, ever work on the same resident); throttled campaigns and SQLite use one.
    """
    now = aware(now)
    report = CampaignTickReport()
    with session_scope(engine) as session:
        ids = list(session.exec(
            select(Campaign.id)
            .where(col(Campaign.status).in_(ACTIVE), col(Campaign.start_at) <= now)
            .order_by(col(Campaign.id))
        ).all())
    for campaign_id in ids:
        assert campaign_id is not None
        with session_scope(engine) as session:
            campaign = get_campaign(session=session, campaign_id=campaign_id, lock=True)
            if not _prepare(session, campaign, settings, now):
                report.finished.append(campaign_id)
                continue
            throttled = campaign.throttle_per_minute is not None
        threads = parallel if engine.dialect.name == "postgresql" and not throttled else 1
        report.invited += invite_all(engine, campaign_id, starter, settings, now, batch,
                                     max_invites, threads)
        while True:
            with session_scope(engine) as session:
                campaign = get_campaign(session=session, campaign_id=campaign_id, lock=True)
                if campaign.status != "running":
                    break
                done, more = remind_batch(session, campaign, settings, now, batch)
                report.reminded += done
            if not more:
                break
        with session_scope(engine) as session:
            campaign = get_campaign(session=session, campaign_id=campaign_id, lock=True)
            if campaign.status == "running" and open_count(session, campaign_id) == 0 \
                    and not _open_to_links(campaign, now):
                close_campaign(session, campaign, "finished", "done", now)
                report.finished.append(campaign_id)
    return report


def _prepare(session: Session, campaign: Campaign, settings: Settings, now: datetime) -> bool:
    """Start, snapshot, bring recipient statuses up to date, and apply cutoff and quotas.
    Returns False when the campaign has just finished."""
    assert campaign.id is not None
    if campaign.status not in ACTIVE:
        return True
    if campaign.cutoff_at is not None and now >= campaign.cutoff_at:
        close_campaign(session, campaign, "finished", "cutoff", now)
        return False
    if campaign.status == "scheduled":
        campaign.status = "running"
        campaign.updated_at = now
    if campaign.materialized_at is None:
        added = materialize(session=session, campaign_id=campaign.id,
                            audience=parse_audience(campaign.audience),
                            default_timezone=settings.timezone)
        campaign.materialized_at = now
        log.info("campaign %s: audience of %d", campaign.id, added)
    session.add(campaign)
    sync_recipients(session=session, campaign_id=campaign.id, now=now)
    expire_recipients(session, campaign, now)
    if campaign.quota is not None:
        if campaign.quota_per_area:
            apply_area_quota(session, campaign, now)
        elif status_count(session, campaign.id, "completed") >= campaign.quota:
            close_campaign(session, campaign, "finished", "quota", now)
            return False
    return True


def _open_to_links(campaign: Campaign, now: datetime) -> bool:
    """A campaign with a cutoff still ahead stays running when its audience is done: flyer
    links (``engage telegram link``) can bring residents in until the cutoff."""
    return campaign.cutoff_at is not None and now < aware(campaign.cutoff_at)
