"""Recipient statuses: carried over from runs and opt-outs, expired, held back by a quota,
counted; and the residents of a batch locked before anything is sent to them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Exists, func, or_, update
from sqlmodel import Session, col, select

from engage.storage import repo
from engage.storage.tables import Message, Participant, Response, Run
from engage.storage.tables.scheduling import Campaign, CampaignRecipient

OPEN_RECIPIENT = ("pending", "invited", "started")
RUN_TO_RECIPIENT = {"completed": "completed", "declined": "declined", "expired": "expired"}


def sync_recipients(*, session: Session, campaign_id: int, now: datetime) -> None:
    """Carry run outcomes and opt-outs over to recipient statuses (set-based, any size)."""
    rec = CampaignRecipient

    def change(where: list[ColumnElement[bool]], status: str, final: bool = True) -> None:
        values: dict[str, Any] = {"status": status}
        if final:
            values["finished_at"] = now
        session.execute(
            update(rec).where(col(rec.campaign_id) == campaign_id, *where).values(**values)
            .execution_options(synchronize_session=False)
        )

    # Every condition below follows the recipient's own row by its key (participant, run)
    # and never asks for "the runs of this campaign": a campaign just fanned out is newer
    # than the planner's statistics, which then took its runs for a handful and walked all
    # of them for every recipient.
    def own_run(*conditions: ColumnElement[bool]) -> Exists:
        return select(Run.id).where(col(Run.id) == col(rec.run_id), *conditions).exists()

    gone = select(Participant.id).where(
        col(Participant.id) == col(rec.participant_id),
        or_(col(Participant.opted_out).is_(True), col(Participant.erased_at).is_not(None)),
    ).exists()
    change([col(rec.status).in_(OPEN_RECIPIENT), gone], "opted_out")
    for run_status, status in RUN_TO_RECIPIENT.items():
        change([col(rec.status).in_(("invited", "started")),
                own_run(col(Run.status) == run_status)],
               status)
    change([col(rec.status).in_(("invited", "started")),
            own_run(col(Run.status).not_in(("waiting", *RUN_TO_RECIPIENT)))], "expired")
    answered = select(Response.id).where(col(Response.run_id) == col(rec.run_id)).exists()
    replied = select(Message.id).where(col(Message.run_id) == col(rec.run_id),
                                       col(Message.direction) == "in").exists()
    change([col(rec.status) == "invited", or_(answered, replied)], "started", final=False)


def expire_recipients(session: Session, campaign: Campaign, now: datetime) -> None:
    """Campaign run expiry: stop waiting for residents invited too long ago, end their runs."""
    if campaign.run_expiry_hours is None:
        return
    limit = now - timedelta(hours=campaign.run_expiry_hours)
    stale = session.exec(
        select(CampaignRecipient).where(
            CampaignRecipient.campaign_id == campaign.id,
            col(CampaignRecipient.status).in_(("invited", "started")),
            col(CampaignRecipient.invited_at) <= limit,
        )
    ).all()
    # their residents locked first, all at once in id order (as inbound batches lock them),
    # so the runs below are read after any message that was being handled for them
    lock_participants(session, [recipient.participant_id for recipient in stale])
    for recipient in stale:
        recipient.status = "expired"
        recipient.finished_at = now
        session.add(recipient)
        run = session.get(Run, recipient.run_id) if recipient.run_id else None
        if run is not None and run.status == "waiting":
            repo.end_run(run=run, status="expired", now=now)
            session.add(run)


def lock_participants(session: Session, participant_ids: list[int | None]) -> None:
    """A batch's residents locked in one statement, in id order as inbound batches lock them
    (so the two never deadlock), and their rows read afresh into the session: a message
    handled since the batch's first read (an opt-out) is seen. SQLite: the write lock the
    transaction holds already serializes everything."""
    ids = sorted({pid for pid in participant_ids if pid is not None})
    if not ids or session.get_bind().dialect.name != "postgresql":
        return
    stmt = (select(Participant).where(col(Participant.id).in_(ids)).order_by(col(Participant.id))
            .with_for_update(of=Participant).execution_options(populate_existing=True))
    with session.no_autoflush:
        session.exec(stmt).all()


def apply_area_quota(session: Session, campaign: Campaign, now: datetime) -> None:
    """Per-area quota: areas that reached it get no further invitations or reminders."""
    assert campaign.quota is not None
    area = func.coalesce(CampaignRecipient.area, "")
    full = select(area).where(
        CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.status == "completed"
    ).group_by(area).having(func.count() >= campaign.quota)
    session.execute(
        update(CampaignRecipient)
        .where(col(CampaignRecipient.campaign_id) == campaign.id,
               col(CampaignRecipient.status) == "pending", area.in_(full))
        .values(status="skipped", finished_at=now)
        .execution_options(synchronize_session=False)
    )


def finish_recipient(recipient: CampaignRecipient, status: str, now: datetime) -> None:
    recipient.status = status
    recipient.finished_at = now


def status_count(session: Session, campaign_id: int, status: str) -> int:
    return int(session.execute(
        select(func.count()).select_from(CampaignRecipient).where(
            CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == status)
    ).scalar_one())


def open_count(session: Session, campaign_id: int) -> int:
    return int(session.execute(
        select(func.count()).select_from(CampaignRecipient).where(
            CampaignRecipient.campaign_id == campaign_id,
            col(CampaignRecipient.status).in_(OPEN_RECIPIENT))
    ).scalar_one())
