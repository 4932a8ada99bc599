"""``/start <code>``: a deep link joins a campaign or a dialogue-session invitation.

The runtime handles a plain START (opt back in, or begin the default flow); a valid deep-link
code instead starts the campaign's flow, or the RSVP flow for the dialogue session, through
``Runtime.start_run`` -- in ONE transaction with the inbound message row, so a redelivered
update is recognised as a duplicate exactly as for any other message. Tapping a link is an
explicit request, so a resident who had opted out is opted back in (recorded in the ledger
with source ``telegram_link``); consent to the survey itself is still asked by the flow.

When the link cannot be used (forged, expired, campaign not running, session not open, or
the resident already took part) the update falls back to a plain START, so the resident
always gets an answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engage.channels.base import Inbound
from engage.channels.deeplinks import DeepLink, read_code
from engage.consent import record_consent
from engage.errors import RetryableError
from engage.storage import repo
from engage.storage.db import session_scope
from engage.storage.records import RunRow
from engage.storage.sql import Tx
from engage.storage.tables import Participant
from engage.telegram import store
from engage.telegram.ports import TelegramRuntime

log = logging.getLogger("engage.telegram")

LINK_SOURCE = "telegram_link"
JoinStatus = Literal["joined", "duplicate", "fallback"]


@dataclass(frozen=True)
class JoinOutcome:
    """What a /start with a deep link did (the webhook counts ``status``)."""

    status: JoinStatus
    run_id: int | None = None
    outbox_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Target:
    flow_id: str
    context: dict[str, Any] | None
    campaign_id: int | None = None
    session_id: int | None = None


class _Fallback(Exception):
    """Roll the transaction back and treat the update as a plain START."""


def read_link(runtime: TelegramRuntime, payload: str | None, now: datetime) -> DeepLink | None:
    """The deep link in a /start payload, or None (no payload, forged, expired)."""
    if not payload:
        return None
    return read_code(runtime.settings.secret_bytes(), payload, now=now)


def join(runtime: TelegramRuntime, inbound: Inbound, link: DeepLink) -> JoinOutcome:
    """Start the linked flow for the resident behind ``inbound`` (synchronous, one transaction)."""
    now = runtime.clock()
    try:
        with session_scope(runtime.engine) as session:
            return _join(session, runtime, inbound, link, now)
    except _Fallback:
        return JoinOutcome(status="fallback")
    except IntegrityError as exc:  # the same update delivered twice at once: retry finds it
        raise RetryableError("concurrent delivery of the same update; retry") from exc


def _join(
    session: Session, runtime: TelegramRuntime, inbound: Inbound, link: DeepLink, now: datetime
) -> JoinOutcome:
    channel = inbound.channel
    prefix = f"in:{channel}:{inbound.provider_id}"
    tx = Tx.of_session(session)
    if repo.find_inbound_message(tx=tx, channel=channel, provider_id=inbound.provider_id):
        ids = repo.outbox_ids_for_prefix(tx=tx, prefix=prefix + ":")
        return JoinOutcome(status="duplicate", outbox_ids=ids)
    target = _target(session, link, now)
    if target is None:
        raise _Fallback
    key = store.chat_key(runtime.settings.secret_bytes(), inbound.address)
    is_new = repo.get_participant(session=session, channel=channel, key=key) is None
    participant: Participant = runtime.participant_for(session, channel, inbound.address, now)
    assert participant.id is not None
    if is_new and inbound.language_hint in ("en", "es"):
        # new here: speak the language of their Telegram app until they choose one
        store.set_language(session, participant, inbound.language_hint)
    if participant.erased_at is not None:
        raise _Fallback
    if participant.opted_out:
        record_consent(
            tx=tx,
            participant=participant,
            scope="all",
            status="opted_in",
            text_version=LINK_SOURCE,
            now=now,
            source=LINK_SOURCE,
        )
    run: RunRow | None = runtime.start_run(
        session=session,
        participant=participant,
        flow_id=target.flow_id,
        kind="reply",
        dedupe_key=prefix,
        now=now,
        context=target.context,
        campaign_id=target.campaign_id,
        session_id=target.session_id,
    )
    if run is None:
        raise _Fallback  # already took part (or declined): a plain START answers them
    # the same update stored by a concurrent delivery meanwhile fails the unique index:
    # IntegrityError, retried, and the retry finds it (as for any other message)
    repo.queue_inbound_message(
        tx=tx,
        participant_id=participant.id,
        channel=channel,
        provider_id=inbound.provider_id,
        body="START",
        now=now,
        run_id=run.id,
    )
    outbox_ids = repo.outbox_ids_for_prefix(tx=tx, prefix=prefix + ":")
    _bookkeeping(session, runtime, target, participant.id, run.id, len(outbox_ids), now)
    log.info(
        "telegram participant=%s joined %s %s by link",
        participant.key[:12],
        link.kind,
        link.target_id,
    )
    return JoinOutcome(status="joined", run_id=run.id, outbox_ids=outbox_ids)


def _target(session: Session, link: DeepLink, now: datetime) -> _Target | None:
    if link.kind == "campaign":
        campaign = store.campaign_target(session, link.target_id)
        if campaign is None or campaign.status != "running":
            return None
        if campaign.cutoff_at is not None and now >= campaign.cutoff_at:
            return None
        return _Target(flow_id=campaign.flow_id, context=None,
                       campaign_id=campaign.campaign_id)
    from engage.scheduling.dialogue import RSVP_FLOW, when_context

    ds = store.dialogue_session(session, link.target_id)
    if ds is None or ds.status != "scheduled" or now >= ds.starts_at:
        return None
    context = {
        "session_title": ds.title,
        **when_context(ds),
        "session_place": ds.place,
    }
    return _Target(flow_id=RSVP_FLOW, context=context, session_id=ds.id)


def _bookkeeping(
    session: Session,
    runtime: TelegramRuntime,
    target: _Target,
    participant_id: int,
    run_id: int,
    messages: int,
    now: datetime,
) -> None:
    """Count the joiner where campaign progress and session seats are counted."""
    if target.campaign_id is not None:
        store.count_campaign_joiner(
            session,
            campaign_id=target.campaign_id,
            participant_id=participant_id,
            run_id=run_id,
            messages=messages,
            timezone=runtime.settings.timezone,
            now=now,
        )
    if target.session_id is not None:
        store.count_session_joiner(
            session,
            session_id=target.session_id,
            participant_id=participant_id,
            run_id=run_id,
            now=now,
        )


class RuntimeLinks:
    """The service's deep-link half, bound to one runtime (see ``TelegramService.links``)."""

    def __init__(self, runtime: TelegramRuntime) -> None:
        self.runtime = runtime

    def read(self, payload: str, now: datetime) -> DeepLink | None:
        return read_link(self.runtime, payload, now)

    def join(self, inbound: Inbound, link: DeepLink) -> JoinOutcome:
        return join(self.runtime, inbound, link)
