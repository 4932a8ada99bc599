"""Keyword-only repository functions: the few reads and writes every module shares, one
module per table group behind these names (callers write ``from engage.storage import repo``).

Why functions and not methods on models: callers pass the transaction explicitly, so its
boundary is always visible at the call site (the runtime's one-transaction rule).

Each function takes ``tx``: the ``Tx`` of the caller's transaction (see ``storage.sql``); an
ORM caller (staff actions, campaigns, tests) passes ``Tx.of_session(session)``, so one
implementation runs, on the transaction's DBAPI connection with statements compiled once
from the tables. Lookups return plain records (``storage.records``); writes keep the object
they are given (a record or an ORM instance, ``ParticipantFields``/``RunFields``) in step
with its row, so no unit-of-work flush is needed later. Three functions serve ORM callers
that go on to change what they read: ``get_participant``, ``get_or_create_participant``,
``enqueue_outbox`` take the ``Session`` and return ORM instances.
"""

from __future__ import annotations

from engage.storage.repo._common import (
    ACTIVE_RUN,
    CONSENT_SCOPES,
    CONSENT_STATUSES,
    HELD_KINDS,
    OUTBOX_KINDS,
    dialect_insert,
    in_list,
    insert_for,
    list_param,
)
from engage.storage.repo.consent import (
    record_consent,
)
from engage.storage.repo.messages import (
    anonymize_message,
    find_inbound_message,
    known_inbound_later,
    queue_inbound_message,
    set_inbound_message_run,
)
from engage.storage.repo.outbox_rows import (
    cancel_pending_outbox,
    enqueue_outbox,
    insert_outbox,
    outbox_ids_for_keys,
    outbox_ids_for_prefix,
    queue_outbox,
    release_unreached,
)
from engage.storage.repo.participants import (
    create_participant,
    delete_participant,
    ensure_participant,
    get_or_create_participant,
    get_participant,
    has_consent,
    lock_participants,
    participant_and_active_run,
    participant_by_id,
    prefetch_participants,
    update_participant,
)
from engage.storage.repo.responses import (
    upsert_response,
)
from engage.storage.repo.runs import (
    active_run,
    due_runs,
    end_run,
    has_runs,
    insert_run,
    latest_run,
    participant_has_run,
    run_by_id,
    save_run,
)

__all__ = [
    "ACTIVE_RUN",
    "CONSENT_SCOPES",
    "CONSENT_STATUSES",
    "HELD_KINDS",
    "OUTBOX_KINDS",
    "active_run",
    "anonymize_message",
    "cancel_pending_outbox",
    "create_participant",
    "delete_participant",
    "dialect_insert",
    "due_runs",
    "end_run",
    "enqueue_outbox",
    "ensure_participant",
    "find_inbound_message",
    "get_or_create_participant",
    "get_participant",
    "has_consent",
    "has_runs",
    "in_list",
    "insert_for",
    "insert_outbox",
    "insert_run",
    "known_inbound_later",
    "latest_run",
    "list_param",
    "lock_participants",
    "outbox_ids_for_keys",
    "outbox_ids_for_prefix",
    "participant_and_active_run",
    "participant_by_id",
    "participant_has_run",
    "prefetch_participants",
    "queue_inbound_message",
    "queue_outbox",
    "record_consent",
    "release_unreached",
    "run_by_id",
    "save_run",
    "set_inbound_message_run",
    "update_participant",
    "upsert_response",
]
