"""The flows a session runs (the invitation with its RSVP question, the feedback survey), what
an invitation run recorded, and ending the invitation runs still waiting for an answer."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from engage.flow import engine
from engage.storage import repo
from engage.storage.tables import Run
from engage.storage.tables.scheduling import RSVP_FLOW, DialogueSession


def run_results(run: Run) -> dict[str, Any]:
    try:
        state = json.loads(run.state)
    except (TypeError, ValueError):
        return {}
    return engine.results(state) if isinstance(state, dict) else {}


def end_invitation_runs(session: Session, ds: DialogueSession, now: datetime) -> None:
    """Invitation runs still waiting for an answer end: a reply after this goes nowhere near
    a seat (the session started, was cancelled or closed)."""
    for run in session.exec(select(Run).where(
            Run.session_id == ds.id, Run.flow_id == RSVP_FLOW,
            Run.status == repo.ACTIVE_RUN)).all():
        repo.end_run(run=run, status="expired", now=now)
        session.add(run)
