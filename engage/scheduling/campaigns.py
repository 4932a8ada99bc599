"""Survey campaigns: the Python API staff tools call, and the tick that does the due work.

A campaign is a row; its audience becomes ``campaign_recipient`` rows when it first runs. The
tick (``run_campaigns``) invites pending recipients whose local time is outside quiet hours, as
fast as the throttle allows, by starting the flow through ``Runtime.start_run`` with the dedupe
key ``campaign:{id}:p:{pid}:invite``; reminders use ``campaign:{id}:p:{pid}:reminder:{n}``. The
recipient row changes in the same transaction as the outbox rows are written, and the keys are
unique, so a crash, a restart or a second leader can never send anything twice; whatever was due
while the scheduler was down is done on its next tick, unless the cutoff has passed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Container
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy import and_, func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from engage.config import Settings
from engage.errors import UserError
from engage.scheduling.audience import (
    REFUSED_CONSENT,
    Audience,
    ParticipantSource,
    add_csv_recipients,
    materialize,
    parse_audience,
    read_csv_numbers,
)
from engage.scheduling.clock import THROTTLE_WINDOW, aware, is_quiet, throttle_budget
from engage.storage import repo
from engage.storage.db import session_scope
from engage.storage.models import Message, Outbox, Participant, Response, Run
from engage.storage.scheduling_models import Campaign, CampaignRecipient

log = logging.getLogger(__name__)

ACTIVE = ("scheduled", "running")
OPEN_RECIPIENT = ("pending", "invited", "started")
CAMPAIGN_KINDS = ("campaign", "reminder")
MAX_REMINDERS = 5
REMINDER_TEXT = {
    "en": "Reminder from {program}: we'd still like to hear from you. Reply to the last "
          "question to continue, or STOP to opt out.",
    "es": "Recordatorio de {program}: todavía nos gustaría conocer su opinión. Responda a la "
          "última pregunta para continuar, o STOP para salir.",
}
RUN_TO_RECIPIENT = {"completed": "completed", "declined": "declined", "expired": "expired"}


class RunStarter(Protocol):
    """The part of ``engage.runtime.Runtime`` a campaign needs."""

    def start_run(self, *, session: Session, participant: Participant, flow_id: str, kind: str,
                  dedupe_key: str, now: datetime, context: dict[str, Any] | None = None,
                  campaign_id: int | None = None, session_id: int | None = None,
                  locked: bool = False) -> Run | None: ...


def invite_key(campaign_id: int, participant_id: int) -> str:
    return f"campaign:{campaign_id}:p:{participant_id}:invite"


def reminder_key(campaign_id: int, participant_id: int, number: int) -> str:
    return f"campaign:{campaign_id}:p:{participant_id}:reminder:{number}"


# --- the Python API ----------------------------------------------------------------------


def create_campaign(
    *,
    session: Session,
    settings: Settings,
    flow_id: str,
    now: datetime,
    audience: str = "all",
    start_at: datetime | None = None,
    cutoff_at: datetime | None = None,
    throttle_per_minute: int | None = None,
    reminders: int = 0,
    reminder_after_hours: float = 24.0,
    run_expiry_hours: float | None = None,
    quota: int | None = None,
    quota_per_area: bool = False,
    name: str | None = None,
    draft: bool = False,
    created_by: str = "staff",
    known_flows: Container[str] | None = None,
    participants: ParticipantSource | None = None,
) -> Campaign:
    """Validate and store a campaign (status ``scheduled``, or ``draft``). A CSV audience is
    resolved now (numbers normalized, participants created with encrypted addresses)."""
    now = aware(now)
    spec = parse_audience(audience)
    if spec.kind in ("area", "district"):  # a misspelt place would reach nobody, silently
        from engage.scheduling.places import known_place

        spec = Audience(spec.kind, known_place(settings, spec.value or "",
                                               districts=spec.kind == "district",
                                               neighbourhoods=spec.kind == "area"))
    start = aware(start_at) if start_at is not None else now
    if known_flows is not None and flow_id not in known_flows:
        raise UserError(f"unknown flow {flow_id!r}")
    if cutoff_at is not None and aware(cutoff_at) <= start:
        raise UserError("cutoff must be after the start")
    if throttle_per_minute is not None and throttle_per_minute < 1:
        raise UserError("throttle must be at least 1 message per minute (omit it for no limit)")
    if not 0 <= reminders <= MAX_REMINDERS:
        raise UserError(f"reminders must be between 0 and {MAX_REMINDERS}")
    if reminder_after_hours <= 0:
        raise UserError("reminder-after must be a positive number of hours")
    if run_expiry_hours is not None and run_expiry_hours <= 0:
        raise UserError("run expiry must be a positive number of hours")
    if quota is not None and quota < 1:
        raise UserError("quota must be at least 1")
    if spec.kind == "csv" and participants is None:
        raise UserError("a CSV audience needs the runtime to resolve participants")
    numbers: list[str] = []
    if spec.kind == "csv":
        numbers, rejected = read_csv_numbers(Path(spec.value or ""))
        if rejected:
            log.warning("campaign csv: %d rows were not valid phone numbers", rejected)
    campaign = Campaign(
        name=name or f"{flow_id} {start:%Y-%m-%d}",
        flow_id=flow_id,
        status="draft" if draft else "scheduled",
        audience=str(spec),
        start_at=start,
        cutoff_at=aware(cutoff_at) if cutoff_at is not None else None,
        throttle_per_minute=throttle_per_minute,
        reminders=reminders,
        reminder_after_hours=reminder_after_hours,
        run_expiry_hours=run_expiry_hours,
        quota=quota,
        quota_per_area=quota_per_area,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    session.flush()
    assert campaign.id is not None
    if spec.kind == "csv":
        assert participants is not None
        add_csv_recipients(session=session, campaign_id=campaign.id, numbers=numbers,
                           source=participants, default_timezone=settings.timezone, now=now)
        campaign.materialized_at = now
    _audit(session, created_by, "campaign.created", campaign, now,
           {"flow": flow_id, "audience": spec.kind})
    return campaign


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
        session.execute(_campaign_outbox_update(campaign_id, ("held",)).values(status="pending"))
    session.add(campaign)
    _audit(session, actor, "campaign.started", campaign, now, {})
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
    session.execute(_campaign_outbox_update(campaign_id, ("pending",)).values(status="held"))
    session.add(campaign)
    _audit(session, actor, "campaign.paused", campaign, now, {})
    return campaign


def cancel_campaign(*, session: Session, campaign_id: int, now: datetime,
                    actor: str = "staff") -> Campaign:
    """Cancel for good: nobody else is invited or reminded, queued messages are cancelled."""
    campaign = get_campaign(session=session, campaign_id=campaign_id, lock=True)
    if campaign.status == "cancelled":
        return campaign
    if campaign.status == "finished":
        raise UserError(f"campaign {campaign_id} already finished")
    _close(session, campaign, "cancelled", "cancelled", aware(now))
    _audit(session, actor, "campaign.cancelled", campaign, now, {})
    return campaign


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

    def to_dict(self) -> dict[str, Any]:
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
        .where(*_campaign_outbox_conditions(campaign_id))
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


# --- the tick ----------------------------------------------------------------------------


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
        report.invited += _invite_all(engine, campaign_id, starter, settings, now, batch,
                                      max_invites, threads)
        while True:
            with session_scope(engine) as session:
                campaign = get_campaign(session=session, campaign_id=campaign_id, lock=True)
                if campaign.status != "running":
                    break
                done, more = _remind_batch(session, campaign, settings, now, batch)
                report.reminded += done
            if not more:
                break
        with session_scope(engine) as session:
            campaign = get_campaign(session=session, campaign_id=campaign_id, lock=True)
            if campaign.status == "running" and _open_count(session, campaign_id) == 0 \
                    and not _open_to_links(campaign, now):
                _close(session, campaign, "finished", "done", now)
                report.finished.append(campaign_id)
    return report


def _invite_all(engine: Engine, campaign_id: int, starter: RunStarter, settings: Settings,
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
                done, more = _invite_batch(session, campaign, starter, settings, now,
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


def _prepare(session: Session, campaign: Campaign, settings: Settings, now: datetime) -> bool:
    """Start, snapshot, bring recipient statuses up to date, and apply cutoff and quotas.
    Returns False when the campaign has just finished."""
    assert campaign.id is not None
    if campaign.status not in ACTIVE:
        return True
    if campaign.cutoff_at is not None and now >= campaign.cutoff_at:
        _close(session, campaign, "finished", "cutoff", now)
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
    _expire_recipients(session, campaign, now)
    if campaign.quota is not None:
        if campaign.quota_per_area:
            _apply_area_quota(session, campaign, now)
        elif _status_count(session, campaign.id, "completed") >= campaign.quota:
            _close(session, campaign, "finished", "quota", now)
            return False
    return True


def sync_recipients(*, session: Session, campaign_id: int, now: datetime) -> None:
    """Carry run outcomes and opt-outs over to recipient statuses (set-based, any size)."""
    rec = CampaignRecipient

    def change(where: list[Any], status: str, final: bool = True) -> None:
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
    # of them for every recipient (measured: 20-25 s per statement at 20,000 recipients).
    def own_run(*conditions: Any) -> Any:
        return select(Run.id).where(col(Run.id) == col(rec.run_id), *conditions).exists()

    gone = select(Participant.id).where(
        col(Participant.id) == col(rec.participant_id),
        or_(col(Participant.opted_out).is_(True), col(Participant.erased_at).is_not(None)),
    ).exists()
    change([col(rec.status).in_(OPEN_RECIPIENT), gone], "opted_out")
    for run_status, status in RUN_TO_RECIPIENT.items():
        change([col(rec.status).in_(("invited", "started")), own_run(Run.status == run_status)],
               status)
    change([col(rec.status).in_(("invited", "started")),
            own_run(col(Run.status).not_in(("waiting", *RUN_TO_RECIPIENT)))], "expired")
    answered = select(Response.id).where(col(Response.run_id) == col(rec.run_id)).exists()
    replied = select(Message.id).where(col(Message.run_id) == col(rec.run_id),
                                       Message.direction == "in").exists()
    change([rec.status == "invited", or_(answered, replied)], "started", final=False)


def _expire_recipients(session: Session, campaign: Campaign, now: datetime) -> None:
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
    _lock_participants(session, [recipient.participant_id for recipient in stale])
    for recipient in stale:
        recipient.status = "expired"
        recipient.finished_at = now
        session.add(recipient)
        run = session.get(Run, recipient.run_id) if recipient.run_id else None
        if run is not None and run.status == "waiting":
            repo.end_run(run=run, status="expired", now=now)
            session.add(run)


def _lock_participants(session: Session, participant_ids: list[int | None]) -> None:
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


def _apply_area_quota(session: Session, campaign: Campaign, now: datetime) -> None:
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


def _allowed_zones(session: Session, campaign_id: int, statuses: tuple[str, ...],
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


def _invite_batch(session: Session, campaign: Campaign, starter: RunStarter, settings: Settings,
                  now: datetime, limit: int) -> tuple[int, bool]:
    """Invite up to ``limit`` pending recipients. Returns (invited, more may be due now)."""
    assert campaign.id is not None
    throttled = campaign.throttle_per_minute is not None
    budget = throttle_budget(campaign.throttle_per_minute,
                             sent_last_minute(session, campaign.id, now) if throttled else 0,
                             limit)
    if budget <= 0:
        return 0, False
    zones = _allowed_zones(session, campaign.id, ("pending",), settings, now)
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
    _lock_participants(session, [participant.id for _, participant in rows])
    invited, used = 0, 0
    started: dict[int, CampaignRecipient] = {}
    for recipient, participant in rows:
        if throttled and used >= budget:
            return invited, False
        if participant.opted_out or participant.erased_at is not None:
            _finish_recipient(recipient, "opted_out", now)
        elif participant.consent_surveys in REFUSED_CONSENT:
            _finish_recipient(recipient, "skipped", now)
        else:
            run = starter.start_run(
                session=session, participant=participant, flow_id=campaign.flow_id,
                kind="campaign", dedupe_key=invite_key(campaign.id, recipient.participant_id),
                now=now, campaign_id=campaign.id, locked=True,
            )
            if run is None:
                _finish_recipient(recipient, "skipped", now)
            else:
                assert run.id is not None
                recipient.status = "invited"
                recipient.run_id = run.id
                recipient.invited_at = now
                started[run.id] = recipient
                invited += 1
                if throttled:
                    recipient.invite_messages = _messages_for_runs(
                        session, {run.id: recipient.participant_id}).get(run.id, 1)
                    used += recipient.invite_messages
        session.add(recipient)
    if started and not throttled:
        counts = _messages_for_runs(
            session, {run_id: r.participant_id for run_id, r in started.items()})
        for run_id, recipient in started.items():
            recipient.invite_messages = counts.get(run_id, 0)
            session.add(recipient)
    return invited, len(rows) == budget and not throttled


def _messages_for_runs(session: Session, runs: dict[int, int]) -> dict[int, int]:
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


def _remind_batch(session: Session, campaign: Campaign, settings: Settings, now: datetime,
                  limit: int) -> tuple[int, bool]:
    """Remind non-responders (invited, never replied) whose reminder is due and whose local
    time is outside quiet hours. Returns (reminded, more may be due now)."""
    assert campaign.id is not None
    if campaign.reminders <= 0:
        return 0, False
    throttled = campaign.throttle_per_minute is not None
    budget = throttle_budget(campaign.throttle_per_minute,
                             sent_last_minute(session, campaign.id, now) if throttled else 0,
                             limit)
    if budget <= 0:
        return 0, False
    zones = _allowed_zones(session, campaign.id, ("invited",), settings, now)
    if not zones:
        return 0, False
    due = now - timedelta(hours=campaign.reminder_after_hours)
    rec = CampaignRecipient
    rows = session.exec(
        select(rec, Participant)
        .join(Participant, col(Participant.id) == col(rec.participant_id))
        .where(rec.campaign_id == campaign.id, rec.status == "invited",
               col(rec.reminders_sent) < campaign.reminders,
               col(rec.timezone).in_(zones),
               or_(and_(col(rec.last_reminder_at).is_(None), col(rec.invited_at) <= due),
                   col(rec.last_reminder_at) <= due))
        .order_by(col(rec.id))
        .limit(budget)
    ).all()
    program = settings.program_name
    reminded = 0
    for recipient, participant in rows:
        number = recipient.reminders_sent + 1
        text = REMINDER_TEXT.get(participant.language, REMINDER_TEXT["en"])
        repo.enqueue_outbox(
            session=session, participant=participant, channel=participant.channel,
            body=text.format(program=program), kind="reminder",
            dedupe_key=reminder_key(campaign.id, recipient.participant_id, number),
            now=now, run_id=recipient.run_id, quiet_window=settings.quiet_window,
            timezone=settings.timezone,
        )
        recipient.reminders_sent = number
        recipient.last_reminder_at = now
        session.add(recipient)
        reminded += 1
    return reminded, len(rows) == budget and campaign.throttle_per_minute is None


def _finish_recipient(recipient: CampaignRecipient, status: str, now: datetime) -> None:
    recipient.status = status
    recipient.finished_at = now


def _status_count(session: Session, campaign_id: int, status: str) -> int:
    return int(session.execute(
        select(func.count()).select_from(CampaignRecipient).where(
            CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == status)
    ).scalar_one())


def _open_count(session: Session, campaign_id: int) -> int:
    return int(session.execute(
        select(func.count()).select_from(CampaignRecipient).where(
            CampaignRecipient.campaign_id == campaign_id,
            col(CampaignRecipient.status).in_(OPEN_RECIPIENT))
    ).scalar_one())


def _campaign_outbox_conditions(campaign_id: int) -> list[Any]:
    return [col(Outbox.dedupe_key).like(f"campaign:{campaign_id}:%"),
            col(Outbox.kind).in_(CAMPAIGN_KINDS)]


def _campaign_outbox_update(campaign_id: int, statuses: tuple[str, ...]) -> Any:
    return (update(Outbox)
            .where(*_campaign_outbox_conditions(campaign_id), col(Outbox.status).in_(statuses))
            .execution_options(synchronize_session=False))


def _open_to_links(campaign: Campaign, now: datetime) -> bool:
    """A campaign with a cutoff still ahead stays running when its audience is done: flyer
    links (``engage telegram link``) can bring residents in until the cutoff."""
    return campaign.cutoff_at is not None and now < aware(campaign.cutoff_at)


def _close(session: Session, campaign: Campaign, status: str, reason: str,
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
    session.execute(_campaign_outbox_update(campaign.id, ("pending", "held"))
                    .values(status="cancelled", error=f"campaign {reason}"))
    log.info("campaign %s %s (%s)", campaign.id, status, reason)


def _audit(session: Session, actor: str, action: str, campaign: Campaign, now: datetime,
           details: dict[str, Any]) -> None:
    from engage import audit

    session.flush()
    audit.append(session=session, actor=actor, action=action,
                 subject=f"campaign:{campaign.id}", details=details, now=aware(now))
