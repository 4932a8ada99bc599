"""Runs we start (campaigns, invitations) in the caller's transaction, and the participant
for a raw address (campaign audiences, the CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from engage import privacy
from engage.logging import log_event
from engage.runtime.context import MessageContext, Services, log
from engage.runtime.conversation import start_flow
from engage.runtime.opt_outs import held
from engage.storage import repo
from engage.storage.records import RunRow
from engage.storage.sql import as_tx
from engage.storage.tables import Participant


def start_run(
    services: Services,
    *,
    session: Session,
    participant: Participant,
    flow_id: str,
    kind: str,
    dedupe_key: str,
    now: datetime,
    context: dict[str, Any] | None = None,
    campaign_id: int | None = None,
    session_id: int | None = None,
    locked: bool = False,
) -> RunRow | None:
    """See ``Runtime.start_run``."""
    if now.tzinfo is None:
        raise ValueError("naive datetime rejected")
    if services.is_pg and not locked:
        session.refresh(participant, with_for_update=True)
    if participant.opted_out or participant.erased_at is not None or participant.id is None:
        return None
    if session_id is not None and kind != "reply" \
            and not repo.has_consent(participant, "dialogue"):
        return None  # unasked dialogue messages only to residents who agreed to them
    tx = as_tx(session)
    prefix = f"{dedupe_key}:"
    if repo.outbox_ids_for_prefix(tx=tx, prefix=prefix):
        return None
    if campaign_id is not None and repo.participant_has_run(
            tx=tx, participant_id=participant.id, campaign_id=campaign_id):
        return None
    if session_id is not None and repo.participant_has_run(
            tx=tx, participant_id=participant.id, session_id=session_id,
            flow_id=flow_id):
        return None
    active = repo.active_run(tx=tx, participant_id=participant.id)
    if active is not None and held(active):
        return None  # asked whether they want to stop: nothing else until they answer
    if active is not None:
        repo.end_run(run=active, status="ended", now=now)  # superseded by the new run
        repo.save_run(tx=tx, run=active)
    ctx = MessageContext(services=services, tx=tx, participant=participant, now=now,
                         prefix=prefix, channel=participant.channel, default_kind=kind)
    run = start_flow(ctx, services.catalog.get(flow_id), context=context,
                     campaign_id=campaign_id, session_id=session_id)
    log_event(log, "run.started", participant=participant.key, run_id=run.id, flow=flow_id,
              kind=kind, campaign_id=campaign_id, session_id=session_id)
    return run


def participant_for(services: Services, session: Session, channel: str, address: str,
                    now: datetime) -> Participant:
    """Get or create the participant for a raw address (campaign audiences, the CLI)."""
    normalized = privacy.normalize_address(channel, address)
    key = privacy.participant_key(services.secret, channel, normalized)
    participant = repo.get_participant(session=session, channel=channel, key=key)
    if participant is None:
        participant, _ = repo.get_or_create_participant(
            session=session, channel=channel, key=key, now=now,
            address_enc=privacy.encrypt_address(services.secret, normalized), lock=False)
    elif participant.address_enc is None:
        participant.address_enc = privacy.encrypt_address(services.secret, normalized)
        session.add(participant)
    return participant
