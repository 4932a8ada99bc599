"""The audit entry every staff action on a campaign leaves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from engage.scheduling.clock import aware
from engage.storage.tables.scheduling import Campaign


def audit_campaign(session: Session, actor: str, action: str, campaign: Campaign,
                   now: datetime, details: dict[str, Any]) -> None:
    from engage import audit

    session.flush()
    audit.append(session=session, actor=actor, action=action,
                 subject=f"campaign:{campaign.id}", details=details, now=aware(now))
