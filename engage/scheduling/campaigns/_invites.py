"""Inviting a campaign's audience: pending recipients claimed in batches, each batch one
transaction that starts the flow for each resident through the runtime; unthrottled batches
may run side by side from several threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from engage.config import Settings
from engage.scheduling.audience import REFUSED_CONSENT
from engage.scheduling.campaigns._outbox import invite_key
from engage.scheduling.campaigns._pacing import sending_window
from engage.scheduling.campaigns._recipients import finish_recipient, lock_participants
from engage.scheduling.campaigns.lifecycle import get_campaign
from engage.scheduling.starter import RunStarter
from engage.storage.db import session_scope
from engage.storage.tables import Outbox, Participant
from engage.storage.tables.scheduling import Campaign, CampaignRecipient


def invite_all(engine: Engine, campaign_id: int, starter: RunStarter, settings: Settings,
               now: datetime, batch: int, max_invites: int, threads: int) -> int:
    """Invite batches (each its own transaction) until nothing more is due now."""
    lock = threading.Lock()
    total = [0]

    def worker() -> None:
        while True:
            with lock:
                room = max_invites - total[0]
            if room <= 0:
                return
            with session_scope(engine) as session:
                campaign = get_campaign(session=session, campaign_id=campaign_id, lock="share")
                if campaign.status != "running":
                    return
                done, more = invite_batch(session, campaign, starter, settings, now,
                                          min(batch, room))
            with lock:
                total[0] += done
            if not more:
                return

    if threads <= 1:
        worker()
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fanout") as pool:
            for future in [pool.submit(worker) for _ in range(threads)]:
                future.result()
    return total[0]


def invite_batch(session: Session, campaign: Campaign, starter: RunStarter, settings: Settings,
                 now: datetime, limit: int) -> tuple[int, bool]:
    """Invite up to ``limit`` pending recipients. Returns (invited, more may be due now)."""
    assert campaign.id is not None
    throttled = campaign.throttle_per_minute is not None
    budget, zones = sending_window(session, campaign, ("pending",), settings, now, limit)
    if not zones:
        return 0, False
    stmt = (
        select(CampaignRecipient, Participant)
        .join(Participant, col(Participant.id) == col(CampaignRecipient.participant_id))
        .where(CampaignRecipient.campaign_id == campaign.id,
               CampaignRecipient.status == "pending",
               col(CampaignRecipient.timezone).in_(zones))
        .order_by(col(CampaignRecipient.id))
        .limit(budget)
    )
    if session.get_bind().dialect.name == "postgresql":  # side-by-side batches never overlap
        stmt = stmt.with_for_update(skip_locked=True, of=CampaignRecipient)
    rows = session.exec(stmt).all()
    lock_participants(session, [participant.id for _, participant in rows])
    invited, used = 0, 0
    started: dict[int, CampaignRecipient] = {}
    for recipient, participant in rows:
        if throttled and used >= budget:
            return invited, False
        if participant.opted_out or participant.erased_at is not None:
            finish_recipient(recipient, "opted_out", now)
        elif participant.consent_surveys in REFUSED_CONSENT:
            finish_recipient(recipient, "skipped", now)
        else:
            run = starter.start_run(
                session=session, participant=participant, flow_id=campaign.flow_id,
                kind="campaign", dedupe_key=invite_key(campaign.id, recipient.participant_id),
                now=now, campaign_id=campaign.id, locked=True,
            )
            if run is None:
                finish_recipient(recipient, "skipped", now)
            else:
                recipient.status = "invited"
                recipient.run_id = run.id
                recipient.invited_at = now
                started[run.id] = recipient
                invited += 1
                if throttled:
                    recipient.invite_messages = messages_for_runs(
                        session, {run.id: recipient.participant_id}).get(run.id, 1)
                    used += recipient.invite_messages
        session.add(recipient)
    if started and not throttled:
        counts = messages_for_runs(
            session, {run_id: r.participant_id for run_id, r in started.items()})
        for run_id, recipient in started.items():
            recipient.invite_messages = counts.get(run_id, 0)
            session.add(recipient)
    return invited, len(rows) == budget and not throttled


def messages_for_runs(session: Session, runs: dict[int, int]) -> dict[int, int]:
    """Outbox rows per run (run id -> its participant's id). Found through the participants'
    index: the outbox has no index on runs, and holds every message ever sent. ``start_run``
    writes the rows straight to the transaction's connection, so nothing needs flushing
    first: the batch's recipient changes wait and go out together, one UPDATE for the batch
    instead of one per resident."""
    with session.no_autoflush:
        rows = session.execute(
            select(Outbox.run_id, func.count())
            .where(col(Outbox.participant_id).in_(set(runs.values())),
                   col(Outbox.run_id).in_(list(runs)))
            .group_by(col(Outbox.run_id))
        ).all()
    return {int(run_id): int(n) for run_id, n in rows}
