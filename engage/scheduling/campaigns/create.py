"""Creating a campaign: every setting checked before anything is stored, and a CSV audience
resolved to recipients on the spot."""

from __future__ import annotations

import logging
from collections.abc import Container
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from engage.config import Settings
from engage.errors import UserError
from engage.scheduling.audience import (
    Audience,
    ParticipantSource,
    add_csv_recipients,
    parse_audience,
    read_csv_numbers,
)
from engage.scheduling.campaigns._audit import audit_campaign
from engage.scheduling.clock import aware
from engage.storage.tables.scheduling import Campaign

log = logging.getLogger(__name__)

MAX_REMINDERS = 5


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
    audit_campaign(session, created_by, "campaign.created", campaign, now,
                   {"flow": flow_id, "audience": spec.kind})
    return campaign
