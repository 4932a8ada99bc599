"""One inbound message: validated into a ``Job``, then handled in a transaction shared with
the messages that arrived with it (group commit), deduplicated on (channel, provider id).

A batch that fails on one message is rolled back and its messages are handled one per
transaction, so a bad message fails alone and the others are stored exactly as if they had
come one by one.

Ordering per resident: on PostgreSQL the participant rows of a batch are locked (``SELECT ...
FOR UPDATE``, in id order) before anything is read, and a resident's messages always go to the
same batch queue of this process; on SQLite every write transaction starts with ``BEGIN
IMMEDIATE`` and this process writes through one lock. So two messages from one person are
handled one after the other, each on the state the other left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from engage import compliance, privacy
from engage.channels.base import Inbound
from engage.errors import RetryableError, UserError
from engage.runtime import hooks, opt_outs
from engage.runtime.context import (
    SUPPORTED_LANGUAGES,
    InboundOutcome,
    Job,
    MessageContext,
    Services,
    Status,
    log,
)
from engage.runtime.conversation import converse
from engage.runtime.keywords import handle_keyword
from engage.runtime.outbound import say_fixed
from engage.storage import repo
from engage.storage.db import checkpoint_wal
from engage.storage.records import ParticipantRow, RunRow
from engage.storage.sql import KeptConnection, Tx, transaction

CHANNELS = ("sms", "telegram")
MAX_TEXT = 5000
MAX_PROVIDER_ID = 80


@dataclass
class _Batch:
    """What a batch read once for all its messages: stored participants with their waiting
    runs (a resident's entry is taken by their message and put back only when it is still
    exact), and the (channel, provider id) of every inbound message stored so far."""

    known: dict[tuple[str, str], tuple[ParticipantRow, RunRow | None]]
    stored: set[tuple[str, str]] = field(default_factory=set)
    unknown: set[tuple[str, str]] = field(default_factory=set)  # not stored when read


def make_job(services: Services, inbound: Any, now: datetime) -> Job:
    """Reject garbled input before anything is stored; messages never echo PII."""
    if not isinstance(inbound, Inbound):
        raise UserError("garbled inbound: not an Inbound message")
    if inbound.channel not in CHANNELS:
        raise UserError(f"garbled inbound: unknown channel {str(inbound.channel)[:20]!r}")
    pid = inbound.provider_id
    if not isinstance(pid, str) or not pid.strip() or len(pid) > MAX_PROVIDER_ID \
            or not pid.isprintable():
        raise UserError("garbled inbound: provider message id missing or malformed")
    if not isinstance(inbound.text, str):
        raise UserError("garbled inbound: text is not a string")
    if not isinstance(inbound.received_at, datetime) or inbound.received_at.tzinfo is None:
        raise UserError("garbled inbound: received_at must be an aware datetime")
    if not isinstance(inbound.media_count, int) or inbound.media_count < 0:
        raise UserError("garbled inbound: media_count must be a non-negative integer")
    if not isinstance(inbound.address, str):
        raise UserError("garbled inbound: address is not a string")
    try:
        normalized = privacy.normalize_address(inbound.channel, inbound.address)
    except UserError as exc:
        raise UserError(f"garbled inbound: {exc}") from None
    text = inbound.text.replace("\x00", "")[:MAX_TEXT]
    key = privacy.participant_key(services.secret, inbound.channel, normalized)
    return Job(inbound, inbound.channel, normalized, key, text, now)


def run_batch(services: Services, kept: KeptConnection,
              jobs: Sequence[Job]) -> list[InboundOutcome | BaseException]:
    """All jobs in one transaction; if one of them fails (other than the database being
    unavailable, which every job would meet), each runs again in a transaction of its own
    so only the bad one fails."""
    if len(jobs) > 1:
        try:
            return _after_commit(services, list(_transact(services, kept, jobs)))
        except RetryableError as exc:
            return [exc] * len(jobs)
        except Exception:  # noqa: S110 - isolated below, where its own caller sees it
            pass
    outcomes: list[InboundOutcome | BaseException] = []
    for job in jobs:
        try:
            outcomes.extend(_transact(services, kept, [job]))
        except Exception as exc:
            outcomes.append(exc)
    return _after_commit(services, outcomes)


def _after_commit(services: Services, outcomes: list[Any]) -> list[Any]:
    """After an erasure on SQLite, fold the WAL into the (secure_delete) database file so
    the erased text does not survive in the WAL."""
    if services.is_sqlite and any(
            isinstance(o, InboundOutcome) and o.keyword == "delete" and o.status == "handled"
            for o in outcomes):
        try:
            checkpoint_wal(services.engine)
        except Exception:  # best effort: the next checkpoint does it (logged, not raised)
            log.warning("WAL checkpoint after erasure failed", exc_info=True)
    return outcomes


def _transact(services: Services, kept: KeptConnection,
              jobs: Sequence[Job]) -> list[InboundOutcome]:
    try:
        with transaction(services.engine, pipelined=True, keep=kept) as tx:
            repo.lock_participants(tx=tx, keys=[job.key for job in jobs])
            outcomes = _handle_batch(services, tx, jobs)
        return outcomes()  # the outbox ids came back with the COMMIT
    except IntegrityError as exc:
        if len(jobs) > 1:
            raise  # run_batch redoes the batch one message at a time
        # a concurrent duplicate won the race: the provider's retry finds it
        raise RetryableError("concurrent delivery of the same message; retry") from exc


def _handle_batch(services: Services, tx: Tx,
                  jobs: Sequence[Job]) -> Callable[[], list[InboundOutcome]]:
    """The messages of one transaction (a single message is a batch of one), with
    statements per batch, not per message:
    one round trip reads every participant with their waiting run and the provider ids
    already stored; the writes nobody reads back are queued (``Tx.defer``) and sent as one
    ``executemany`` per statement; the new outbox rows' ids are read alongside the COMMIT
    (so the outcomes are made once it has committed: call the result). A message alone
    writes at once: queueing pays only when a statement has several rows to carry, and its
    outbox ids then come back with their INSERTs, not with one more read."""
    tx.deferring = len(jobs) > 1
    stored = [(channel, repo.known_inbound_later(
        tx=tx, channel=channel,
        provider_ids=[j.inbound.provider_id for j in jobs if j.channel == channel]))
        for channel in {job.channel for job in jobs}]
    places = {(job.channel, job.key) for job in jobs}
    batch = _Batch(known=repo.prefetch_participants(tx=tx, keys=list(places)))
    batch.unknown = places - batch.known.keys()
    for channel, ids in stored:
        batch.stored |= {(channel, pid) for pid in ids()}
    handled = [_handle(services, tx, job, batch) for job in jobs]
    new_ids = repo.outbox_ids_for_keys(
        tx=tx, keys=[k for _, keys in handled for k in keys])

    def outcomes() -> list[InboundOutcome]:
        ids = new_ids()
        return [replace(outcome, outbox_ids=outcome.outbox_ids + tuple(
                    ids[k] for k in keys if k in ids)) if keys else outcome
                for outcome, keys in handled]

    return outcomes


def _handle(services: Services, tx: Tx, job: Job,
            batch: _Batch) -> tuple[InboundOutcome, list[str]]:
    """One message. Returns its outcome and the dedupe keys of its outbox rows still queued
    (their ids are read once for the whole batch)."""
    inbound, channel, key, text, now = job.inbound, job.channel, job.key, job.text, job.now
    secret = services.secret
    place = (channel, inbound.provider_id)
    prefix = f"in:{channel}:{inbound.provider_id}:"
    if place in batch.stored:
        return _duplicate(tx, prefix, key), []
    created = False
    found = batch.known.pop((channel, key), None)
    if found is None and (channel, key) not in batch.unknown:
        found = repo.participant_and_active_run(tx=tx, channel=channel, key=key)
    participant: ParticipantRow
    active: RunRow | None
    if found is not None:
        participant, active = found
    else:
        hint = inbound.language_hint if inbound.language_hint in SUPPORTED_LANGUAGES else "en"
        participant, active, created = repo.ensure_participant(
            tx=tx, channel=channel, key=key, now=now, language=hint or "en",
            address_enc=privacy.encrypt_address(secret, job.normalized))
        batch.unknown.discard((channel, key))
        if not created and repo.find_inbound_message(
                tx=tx, channel=channel, provider_id=inbound.provider_id) is not None:
            # a concurrent first message from this person committed since the batch read
            # the stored ids, and ensure_participant waited for it: it may be this one
            return _duplicate(tx, prefix, key), []
    keyword = compliance.classify(text)
    if keyword is None and not participant.opted_out:
        participant_id = participant.id or 0
        keyword = opt_outs.own_words(
            text, active, lambda: opt_outs.asked_to_stop(services, tx, participant_id))
    if keyword is not None and keyword.kind == "delete" and created:
        erased_id = privacy.erased_provider_id(secret, channel, inbound.provider_id)
        if repo.find_inbound_message(tx=tx, channel=channel,
                                     provider_id=erased_id) is not None:
            repo.delete_participant(tx=tx, participant_id=participant.id)
            return _duplicate(tx, f"in:{channel}:{erased_id}:", key), []
    run_id = active.id if active is not None and keyword is None else None
    # known new (the batch read every stored id): the row is queued; a concurrent delivery
    # of the same id fails the transaction on the unique index (see queue_inbound_message)
    repo.queue_inbound_message(tx=tx, participant_id=participant.id, channel=channel,
                               provider_id=inbound.provider_id,
                               body=privacy.scrub(text),  # only the scrubbed text is kept
                               now=now, run_id=run_id)
    batch.stored.add(place)
    if participant.address_enc is None:
        repo.update_participant(tx=tx, participant=participant,
                                address_enc=privacy.encrypt_address(secret, job.normalized))
    ctx = MessageContext(services=services, tx=tx, participant=participant, now=now,
                         prefix=prefix, channel=channel, default_kind="reply", active=active,
                         fresh=created)
    status: Status = "handled"
    run: RunRow | None = None
    if keyword is not None:
        status, run = handle_keyword(ctx, keyword, job)
    elif participant.opted_out:
        status = "ignored"
    elif inbound.media_count > 0 and not text.strip():
        say_fixed(ctx, "media", participant.language)
    elif (checkin := hooks.dialogue_checkin(tx, participant, text, now)) is not None:
        ctx.outbox_ids.extend([checkin.outbox_id] if checkin.outbox_id else [])
    elif (delib := hooks.deliberation_reply(ctx, text, services.settings)) is not None:
        ctx.outbox_ids.extend(delib.outbox_ids)
    else:
        run = converse(ctx, text)
        if run is not None and (active is None or run.id != active.id):
            repo.set_inbound_message_run(tx=tx, channel=channel,
                                         provider_id=inbound.provider_id, run_id=run.id)
        elif run is not None and run.status == repo.ACTIVE_RUN:
            # the same resident's next message in this batch goes on from here
            batch.known[(channel, key)] = (participant, run)
    outcome = InboundOutcome(status=status, participant_key=key,
                             outbox_ids=tuple(ctx.outbox_ids),
                             keyword=keyword.kind if keyword else None,
                             run_id=run.id if run is not None else None)
    return outcome, ctx.outbox_keys


def _duplicate(tx: Tx, prefix: str, key: str) -> InboundOutcome:
    ids = repo.outbox_ids_for_prefix(tx=tx, prefix=prefix)
    return InboundOutcome(status="duplicate", participant_key=key, outbox_ids=ids)
