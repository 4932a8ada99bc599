"""The audit entry every change to a session (and every look at its contacts) leaves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from engage.scheduling.clock import aware
from engage.storage.tables.scheduling import DialogueSession


def audit_session(session: Session, actor: str, action: str, ds: DialogueSession,
                  now: datetime, details: dict[str, Any]) -> None:
    from engage import audit

    session.flush()
    audit.append(session=session, actor=actor, action=action,
                 subject=f"dialogue_session:{ds.id}", details=details, now=aware(now))
