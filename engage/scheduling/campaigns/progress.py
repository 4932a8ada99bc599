"""Where a campaign stands: its recipients by status and the messages it has sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from engage.scheduling.campaigns._outbox import campaign_outbox_conditions
from engage.scheduling.campaigns._recipients import sync_recipients
from engage.scheduling.campaigns.lifecycle import get_campaign
from engage.scheduling.clock import aware
from engage.storage.tables import Outbox
from engage.storage.tables.scheduling import CampaignRecipient


@dataclass(frozen=True)
class CampaignProgress:
    """Counts for one campaign (recipients by status, plus messages sent)."""

    campaign_id: int
    status: str
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    reminders_sent: int = 0
    messages_sent: int = 0
    messages_queued: int = 0

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def reached(self) -> int:
        """Residents who got the invitation (everyone past ``pending`` except skipped)."""
        return self.total - self.count("pending") - self.count("skipped")

    def to_dict(self) -> dict[str, int | str]:
        return {"campaign_id": self.campaign_id, "status": self.status, "total": self.total,
                **{k: self.count(k) for k in ("pending", "invited", "started", "completed",
                                              "declined", "expired", "opted_out", "skipped")},
                "reminders_sent": self.reminders_sent, "messages_sent": self.messages_sent,
                "messages_queued": self.messages_queued}


def campaign_progress(*, session: Session, campaign_id: int,
                      now: datetime | None = None) -> CampaignProgress:
    """Where the campaign stands. A paused campaign is not ticked, so its residents' finished
    conversations are carried over here (otherwise its progress would stand still)."""
    campaign = get_campaign(session=session, campaign_id=campaign_id)
    if campaign.status == "paused":
        sync_recipients(session=session, campaign_id=campaign_id,
                        now=aware(now or datetime.now(UTC)))
    rows = session.execute(
        select(CampaignRecipient.status, func.count(), func.sum(CampaignRecipient.reminders_sent))
        .where(CampaignRecipient.campaign_id == campaign_id)
        .group_by(CampaignRecipient.status)
    ).all()
    counts = {str(status): int(n) for status, n, _ in rows}
    reminders = sum(int(r or 0) for _, _, r in rows)
    outbox = dict(session.execute(
        select(Outbox.status, func.count())
        .where(*campaign_outbox_conditions(campaign_id))
        .group_by(Outbox.status)
    ).all())
    return CampaignProgress(
        campaign_id=campaign_id,
        status=campaign.status,
        total=sum(counts.values()),
        counts=counts,
        reminders_sent=reminders,
        messages_sent=int(outbox.get("sent", 0)),
        messages_queued=int(outbox.get("pending", 0) + outbox.get("claimed", 0)
                            + outbox.get("held", 0)),
    )
