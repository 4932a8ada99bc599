"""Outbox rows: queueing outbound messages (quiet hours, dedupe keys) and cancelling them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, time
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, or_
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import Session

from engage.compliance import next_allowed_send
from engage.storage.records import ParticipantFields
from engage.storage.repo._common import (
    _OUTBOX,
    HELD_KINDS,
    OUTBOX_KINDS,
    _require_aware,
    _values,
    in_list,
    insert_for,
    list_param,
)
from engage.storage.sql import Statement, Tx
from engage.storage.tables import Outbox

_OUTBOX_INSERT = Statement(lambda d: insert_for(d, _OUTBOX).values(_values(_OUTBOX))
                           .on_conflict_do_nothing(index_elements=["dedupe_key"])
                           .returning(_OUTBOX.c.id))
_OUTBOX_QUEUED = Statement(lambda d: insert_for(d, _OUTBOX).values(_values(_OUTBOX))
                           .on_conflict_do_nothing(index_elements=["dedupe_key"]))
_OUTBOX_BY_PREFIX = Statement(sa_select(_OUTBOX.c.id).where(
    _OUTBOX.c.dedupe_key.like(bindparam("like"), escape="\\")).order_by(_OUTBOX.c.id))
_CANCEL_PENDING = {
    keep: Statement(sa_update(_OUTBOX).where(
        _OUTBOX.c.participant_id == bindparam("pid"),
        or_(_OUTBOX.c.status == "pending", _OUTBOX.c.status == "claimed"),
        *((_OUTBOX.c.kind != "confirmation",) if keep else ()))
        .values(status="cancelled", error=bindparam("reason")))
    for keep in (True, False)}


def _buttons_json(buttons: Iterable[Any] | None) -> str | None:
    if not buttons:
        return None
    if isinstance(buttons, tuple):  # a flow node's options: the same few tuples every time
        try:
            return _options_json(buttons)
        except TypeError:  # unhashable items (dicts): the general path below
            pass
    return _encode_buttons(buttons)


@lru_cache(maxsize=512)
def _options_json(options: tuple[Any, ...]) -> str | None:
    return _encode_buttons(options)


def _encode_buttons(buttons: Iterable[Any]) -> str | None:
    items = []
    for button in buttons:
        if isinstance(button, dict):
            items.append({"label": str(button["label"]), "value": str(button["value"])})
        elif isinstance(button, Sequence) and not isinstance(button, str):
            items.append({"label": str(button[0]), "value": str(button[1])})
        else:
            items.append({"label": str(button.label), "value": str(button.value)})
    return json.dumps(items, ensure_ascii=False, separators=(",", ":")) if items else None


def _outbox_values(
    *, participant: ParticipantFields, channel: str, body: str, kind: str, dedupe_key: str,
    now: datetime, buttons: Iterable[Any] | None, run_id: int | None,
    quiet_window: tuple[time, time] | None, timezone: str | None, address_enc: bytes | None,
) -> dict[str, object] | None:
    """The new row's columns; None when nothing may be sent (opted out, erased)."""
    _require_aware(now)
    if kind not in OUTBOX_KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    if kind != "confirmation" and (participant.opted_out or participant.erased_at is not None):
        return None
    not_before = now
    if kind in HELD_KINDS:
        if quiet_window is None or timezone is None:
            raise ValueError(f"a {kind} message needs the quiet window and the timezone")
        not_before = next_allowed_send(now, participant.timezone or timezone, quiet_window)
    return {
        "participant_id": participant.id, "run_id": run_id, "channel": channel, "kind": kind,
        "body": body, "buttons": _buttons_json(buttons), "dedupe_key": dedupe_key,
        "status": "pending", "not_before": not_before, "attempts": 0, "created_at": now,
        "address_enc": address_enc, "lease_until": None, "claimed_by": None,
        "message_id": None, "provider_id": None, "error": None, "sent_at": None,
        "attempted_at": None}


def insert_outbox(
    *,
    tx: Tx,
    participant: ParticipantFields,
    channel: str,
    body: str,
    kind: str,
    dedupe_key: str,
    now: datetime,
    buttons: Iterable[Any] | None = None,
    run_id: int | None = None,
    quiet_window: tuple[time, time] | None = None,
    timezone: str | None = None,
    address_enc: bytes | None = None,
) -> int | None:
    """``enqueue_outbox`` without loading the row back: the new id, or None (dedupe key used
    already, or nothing may be sent). Written now, its id read back with the INSERT: like
    any read, it first sends the writes a batch queued (``Tx.defer``). Held kinds
    (campaign, reminder, invitation) need ``quiet_window`` and ``timezone``."""
    values = _outbox_values(
        participant=participant, channel=channel, body=body, kind=kind,
        dedupe_key=dedupe_key, now=now, buttons=buttons, run_id=run_id,
        quiet_window=quiet_window, timezone=timezone, address_enc=address_enc)
    return _insert(tx, values) if values is not None else None


def _insert(tx: Tx, values: dict[str, Any]) -> int | None:
    """Write one outbox row now: its id, or None when its dedupe key was used already."""
    new_id = tx.scalar(_OUTBOX_INSERT, values)
    return int(new_id) if new_id is not None else None


def queue_outbox(
    *,
    tx: Tx,
    participant: ParticipantFields,
    channel: str,
    body: str,
    kind: str,
    dedupe_key: str,
    now: datetime,
    buttons: Iterable[Any] | None = None,
    run_id: int | None = None,
    quiet_window: tuple[time, time] | None = None,
    timezone: str | None = None,
    address_enc: bytes | None = None,
) -> int | None:
    """``insert_outbox`` for a transaction that may be a batch: while ``tx.deferring`` the
    row is queued with the batch's other writes and None returned (the caller finds its id
    by dedupe key, ``outbox_ids_for_keys``); otherwise it is ``insert_outbox``."""
    values = _outbox_values(
        participant=participant, channel=channel, body=body, kind=kind,
        dedupe_key=dedupe_key, now=now, buttons=buttons, run_id=run_id,
        quiet_window=quiet_window, timezone=timezone, address_enc=address_enc)
    if values is None:
        return None
    if not tx.deferring:
        return _insert(tx, values)
    tx.defer(_OUTBOX_QUEUED, values)
    return None


def enqueue_outbox(
    *,
    session: Session,
    participant: ParticipantFields,
    channel: str,
    body: str,
    kind: str,
    dedupe_key: str,
    now: datetime,
    buttons: Iterable[Any] | None = None,
    run_id: int | None = None,
    quiet_window: tuple[time, time] | None = None,
    timezone: str | None = None,
    address_enc: bytes | None = None,
) -> Outbox | None:
    """Queue one outbound message. Returns None (and writes nothing) when ``dedupe_key`` was
    already used, or when the participant opted out / was erased and ``kind`` is not
    "confirmation". Kinds campaign|reminder|invitation are held until the resident's quiet
    hours end (``not_before``); replies and confirmations are never held.

    ``quiet_window``/``timezone`` (the settings' ENGAGE_QUIET_HOURS, ENGAGE_TIMEZONE) are
    required for the held kinds; a participant's own timezone, when known, wins.
    ``address_enc`` is only for a message whose participant address is already gone (the
    erasure confirmation).
    """
    new_id = insert_outbox(tx=Tx.of_session(session), participant=participant, channel=channel,
                           body=body,
                           kind=kind, dedupe_key=dedupe_key, now=now, buttons=buttons,
                           run_id=run_id, quiet_window=quiet_window, timezone=timezone,
                           address_enc=address_enc)
    return session.get(Outbox, new_id) if new_id is not None else None


def cancel_pending_outbox(
    *, tx: Tx, participant_id: int, keep_confirmations: bool = True, reason: str
) -> int:
    """Cancel queued messages (opt-out): confirmations stay unless ``keep_confirmations``."""
    return tx.execute(_CANCEL_PENDING[keep_confirmations],
                                  {"pid": participant_id, "reason": reason[:300]})


_RUN_REACHED = Statement(sa_select(_OUTBOX.c.id).where(
    _OUTBOX.c.run_id == bindparam("run_id"),
    or_(_OUTBOX.c.kind == "reply", _OUTBOX.c.kind == "confirmation",
        and_(_OUTBOX.c.status != "pending", _OUTBOX.c.status != "cancelled",
             _OUTBOX.c.status != "failed"))).limit(1))
_RELEASE_RUN = Statement(sa_update(_OUTBOX).where(
    _OUTBOX.c.run_id == bindparam("run_id"), _OUTBOX.c.status == "pending")
    .values(not_before=bindparam("now"), kind="reply").returning(_OUTBOX.c.id))


def release_unreached(*, tx: Tx, run_id: int, now: datetime) -> tuple[int, ...] | None:
    """A run we started (campaign, invitation) that the resident never received: nothing of
    it was sent and they never replied in it (its opening is still held by quiet hours or the
    send queue, or was dropped). Its queued messages are released to go now as replies to the
    resident's own message (quiet hours hold only what we send unasked), and their ids
    returned (empty: nothing is left to send). None when the run did reach the resident (the
    usual case)."""
    if tx.first(_RUN_REACHED, {"run_id": run_id}) is not None:
        return None
    return tuple(int(row[0]) for row in tx.all(_RELEASE_RUN, {"run_id": run_id, "now": now}))


def outbox_ids_for_prefix(*, tx: Tx, prefix: str) -> tuple[int, ...]:
    """Outbox rows whose dedupe key starts with ``prefix`` (a duplicate inbound's outcome)."""
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return tuple(int(row[0]) for row in tx.all(_OUTBOX_BY_PREFIX, {"like": like}))


_OUTBOX_BY_KEYS = Statement(lambda d: sa_select(_OUTBOX.c.dedupe_key, _OUTBOX.c.id).where(
    in_list(d, _OUTBOX.c.dedupe_key, "keys")))


def outbox_ids_for_keys(*, tx: Tx, keys: Sequence[str]) -> Callable[[], dict[str, int]]:
    """dedupe key -> outbox id for the stored rows among ``keys`` (one read per batch), sent
    now and answered with the next sync: a batch's last read, it shares the COMMIT's round
    trip (``Tx.all_later``)."""
    if not keys:
        return dict
    rows = tx.all_later(_OUTBOX_BY_KEYS, {"keys": list_param(tx, keys)})
    return lambda: {str(key): int(row_id) for key, row_id in rows()}
