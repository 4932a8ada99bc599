"""Engine wake-ups: reminders, timeout paths and expiry of runs whose ``wake_at`` passed."""

from __future__ import annotations

import json
from datetime import datetime

from engage.flow import engine
from engage.runtime.context import MessageContext, Services
from engage.runtime.events import apply_step
from engage.storage import repo
from engage.storage.sql import Tx, transaction


def wake_due(services: Services, *, now: datetime, limit: int = 500) -> int:
    """Each due run in its own transaction, taken in the same order as inbound messages
    (participant lock first), so the two never overwrite each other."""
    with transaction(services.engine) as tx:
        due = repo.due_runs(tx=tx, now=now, limit=limit)
    handled = 0
    for run_id, participant_id in due:
        with transaction(services.engine) as tx:
            if _wake_one(services, tx, run_id, participant_id, now):
                handled += 1
    return handled


def _wake_one(services: Services, tx: Tx, run_id: int, participant_id: int,
              now: datetime) -> bool:
    participant = repo.participant_by_id(tx=tx, participant_id=participant_id, lock=True)
    run = repo.run_by_id(tx=tx, run_id=run_id)
    if participant is None or run is None or run.status != repo.ACTIVE_RUN \
            or run.wake_at is None or run.wake_at > now:
        return False
    if participant.opted_out or participant.erased_at is not None:
        repo.end_run(run=run, status="ended", now=now)
        repo.save_run(tx=tx, run=run)
        return True
    flow = services.flow_of(tx, run)
    state = json.loads(run.state)
    ctx = MessageContext(services=services, tx=tx, participant=participant, now=now,
                         prefix=f"wake:{run.id}:{state.get('wake_at')}:",
                         channel=participant.channel, default_kind="reminder")
    apply_step(ctx, run, engine.timeout(flow, state, now=now))
    return True
