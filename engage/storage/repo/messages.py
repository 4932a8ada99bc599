"""Inbound message rows: the dedupe on (channel, provider id) and their bookkeeping."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update

from engage.storage.repo._common import (
    _MESSAGES,
    _require_aware,
    _values,
    in_list,
    list_param,
)
from engage.storage.sql import Statement, Tx

_INBOUND_BY_PROVIDER = Statement(sa_select(_MESSAGES.c.id).where(
    _MESSAGES.c.channel == bindparam("channel"), _MESSAGES.c.direction == "in",
    _MESSAGES.c.provider_id == bindparam("provider_id")))


def find_inbound_message(*, tx: Tx, channel: str, provider_id: str) -> int | None:
    """The id of the inbound message with this provider id, if it was already handled."""
    found = tx.scalar(_INBOUND_BY_PROVIDER,
                                  {"channel": channel, "provider_id": provider_id})
    return int(found) if found is not None else None


_SET_INBOUND_RUN = Statement(sa_update(_MESSAGES).where(
    _MESSAGES.c.channel == bindparam("channel"), _MESSAGES.c.direction == "in",
    _MESSAGES.c.provider_id == bindparam("provider_id")).values(run_id=bindparam("run_id")))
_ANONYMIZE_MESSAGE = Statement(sa_update(_MESSAGES)
                               .where(_MESSAGES.c.id == bindparam("message_id"))
                               .values(participant_id=None, body=None, status="erased"))


def set_inbound_message_run(*, tx: Tx, channel: str, provider_id: str,
                            run_id: int) -> None:
    """Link an inbound row, known by its provider id (unique per channel), to the run it
    started, so the runtime need not read back the id of a row it queued. Deferred: it is
    queued after the row's INSERT, which the read of the new run's id already sent."""
    tx.defer(_SET_INBOUND_RUN, {"channel": channel, "provider_id": provider_id,
                                            "run_id": run_id})


def anonymize_message(*, tx: Tx, message_id: int) -> None:
    """Keep a message row with nothing personal in it (a DELETE's own row: its redelivery
    must still be recognised as a duplicate)."""
    tx.send(_ANONYMIZE_MESSAGE, {"message_id": message_id})


_KNOWN_INBOUND = Statement(lambda d: sa_select(_MESSAGES.c.provider_id).where(
    _MESSAGES.c.channel == bindparam("channel"), _MESSAGES.c.direction == "in",
    in_list(d, _MESSAGES.c.provider_id, "ids")))
_MESSAGE_INSERT_PLAIN = Statement(sa_insert(_MESSAGES).values(_values(_MESSAGES)))


def known_inbound_later(*, tx: Tx, channel: str,
                        provider_ids: Sequence[str]) -> Callable[[], set[str]]:
    """Which of these provider message ids are already stored (a batch's dedupe, one read),
    sent now and answered with the next read (``Tx.all_later``)."""
    if not provider_ids:
        return set
    rows = tx.all_later(_KNOWN_INBOUND, {
        "channel": channel, "ids": list_param(tx, list(dict.fromkeys(provider_ids)))})
    return lambda: {str(row[0]) for row in rows()}


def queue_inbound_message(*, tx: Tx, participant_id: int, channel: str,
                          provider_id: str, body: str | None, now: datetime,
                          run_id: int | None = None) -> None:
    """Insert an inbound row that ``known_inbound`` showed is new, as a deferred write. A
    plain INSERT, not ON CONFLICT DO NOTHING: if a concurrent delivery stored the same id
    meanwhile, the unique index fails the whole transaction instead of the message being
    handled twice (the batch is then redone one message at a time, which finds it)."""
    _require_aware(now)
    tx.defer(_MESSAGE_INSERT_PLAIN, {
        "participant_id": participant_id, "run_id": run_id, "channel": channel,
        "direction": "in", "provider_id": provider_id, "body": body, "status": "received",
        "created_at": now, "segments": None, "encoding": None, "error_code": None,
        "purged_at": None})
