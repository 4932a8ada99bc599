"""Keyword-only repository functions: the few reads and writes every module shares.

Why functions and not methods on models: callers pass the session explicitly, so the
transaction boundary is always visible at the call site (the runtime's one-transaction rule).

Each function takes ``session``: an ORM ``Session`` (staff actions, campaigns, tests) or a
``Tx`` (the inbound hot path, see ``storage.sql``). Either way one implementation runs, on the
transaction's DBAPI connection with statements compiled once from the tables. The lookups the
hot path needs return plain records (``storage.rows``); writes keep whatever object they are
given (record or ORM instance) in step with its row, so no unit-of-work flush is needed later.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, time
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, String, and_, any_, bindparam, func, literal_column, or_
from sqlalchemy import insert as sa_insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from engage.compliance import next_allowed_send
from engage.flow import engine
from engage.storage.models import ConsentEntry, Message, Outbox, Participant, Response, Run
from engage.storage.rows import (
    N_PARTICIPANT,
    PARTICIPANT_COLUMNS,
    RUN_COLUMNS,
    ParticipantRow,
    RunRow,
    participant_row,
    run_row,
)
from engage.storage.sql import Statement, Tx, as_tx

Store = Session | Tx

HELD_KINDS = frozenset({"campaign", "reminder", "invitation"})
OUTBOX_KINDS = frozenset({"reply", "confirmation", "campaign", "reminder", "invitation", "system"})
CONSENT_SCOPES = ("surveys", "dialogue", "quotes")
CONSENT_STATUSES = frozenset(
    {"granted", "declined", "withdrawn", "opted_out", "opted_in", "erased"})
ACTIVE_RUN = "waiting"

_PARTICIPANTS = Participant.__table__  # type: ignore[attr-defined]
_RUNS = Run.__table__  # type: ignore[attr-defined]
_MESSAGES = Message.__table__  # type: ignore[attr-defined]
_OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
_CONSENTS = ConsentEntry.__table__  # type: ignore[attr-defined]


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("naive datetime rejected: use aware UTC datetimes")


def insert_for(dialect_name: str, table: Any) -> Insert:
    """``INSERT`` that supports ``on_conflict_do_nothing`` on both supported backends."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect_name!r}")


def dialect_insert(session: Session, model: Any) -> Insert:
    return insert_for(session.get_bind().dialect.name, model)


def _values(table: Any, *, skip: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    return {c.name: bindparam(c.name) for c in table.columns if c.name not in skip}


def _locked(dialect_name: str, stmt: Any) -> Any:
    return stmt.with_for_update() if dialect_name == "postgresql" else stmt


def _set(obj: Any, name: str, value: Any) -> None:
    """Keep an object in step with a row just written: no unit-of-work flush follows."""
    if hasattr(obj, "_sa_instance_state"):
        set_committed_value(obj, name, value)
    else:
        setattr(obj, name, value)


# --- statements (built once; compiled once per dialect on first use) ---------------------

_SELECT_PARTICIPANT = sa_select(*PARTICIPANT_COLUMNS)
_SELECT_RUN = sa_select(*RUN_COLUMNS)
_PARTICIPANT_BY_KEY = select(Participant).where(
    Participant.channel == bindparam("channel"), Participant.key == bindparam("key"))
_PARTICIPANT_BY_KEY_LOCKED = _PARTICIPANT_BY_KEY.with_for_update()
_PARTICIPANT_BY_ID_LOCKED = Statement(lambda d: _locked(d, _SELECT_PARTICIPANT.where(
    _PARTICIPANTS.c.id == bindparam("pid"))))
_PARTICIPANT_BY_ID_PLAIN = Statement(_SELECT_PARTICIPANT.where(
    _PARTICIPANTS.c.id == bindparam("pid")))
_DELETE_PARTICIPANT = Statement(_PARTICIPANTS.delete().where(
    _PARTICIPANTS.c.id == bindparam("pid")))
_PARTICIPANT_ID_BY_KEY_LOCKED = Statement(lambda d: _locked(d, sa_select(_PARTICIPANTS.c.id).where(
    _PARTICIPANTS.c.channel == bindparam("channel"), _PARTICIPANTS.c.key == bindparam("key"))))
# every participant of a batch locked in one statement, always in id order (no deadlocks)
_LOCK_KEYS = Statement(lambda d: sa_select(_PARTICIPANTS.c.id)
                       .where(in_list(d, _PARTICIPANTS.c.key, "keys"))
                       .order_by(_PARTICIPANTS.c.id).with_for_update())
# participant + its newest waiting run in ONE statement (the inbound hot path)
_PARTICIPANT_AND_RUN = Statement(
    sa_select(*PARTICIPANT_COLUMNS, *RUN_COLUMNS)
    .select_from(_PARTICIPANTS.outerjoin(_RUNS, and_(
        _RUNS.c.participant_id == _PARTICIPANTS.c.id, _RUNS.c.status == ACTIVE_RUN)))
    .where(_PARTICIPANTS.c.channel == bindparam("channel"),
           _PARTICIPANTS.c.key == bindparam("key"))
    .order_by(_RUNS.c.id.desc()).limit(1))
_CREATE_PARTICIPANT = Statement(lambda d: insert_for(d, _PARTICIPANTS).values(
    key=bindparam("key"), channel=bindparam("channel"), address_enc=bindparam("address_enc"),
    language=bindparam("language"), created_at=bindparam("created_at"), opted_out=False)
    .on_conflict_do_nothing(index_elements=["channel", "key"])
    .returning(*PARTICIPANT_COLUMNS))
_ACTIVE_RUN = Statement(_SELECT_RUN.where(
    _RUNS.c.participant_id == bindparam("pid"), _RUNS.c.status == ACTIVE_RUN)
    .order_by(_RUNS.c.id.desc()).limit(1))
_RUN_BY_ID = Statement(_SELECT_RUN.where(_RUNS.c.id == bindparam("run_id")))
_HAS_RUNS = Statement(sa_select(_RUNS.c.id).where(_RUNS.c.participant_id == bindparam("pid"))
                      .limit(1))
_INSERT_RUN = Statement(sa_insert(_RUNS).values(_values(_RUNS)).returning(_RUNS.c.id))
_SAVE_RUN = Statement(sa_update(_RUNS).where(_RUNS.c.id == bindparam("run_pk")).values(
    state=bindparam("state"), status=bindparam("status"), wake_at=bindparam("wake_at"),
    updated_at=bindparam("updated_at"), ended_at=bindparam("ended_at")))
_RUN_FIELDS = ("state", "status", "wake_at", "updated_at", "ended_at")
_CONSENT_INSERT = Statement(sa_insert(_CONSENTS).values(_values(_CONSENTS))
                            .returning(_CONSENTS.c.id))
_MESSAGE_INSERT = Statement(lambda d: insert_for(d, _MESSAGES).values(_values(_MESSAGES))
                            .on_conflict_do_nothing(
                                index_elements=["channel", "direction", "provider_id"])
                            .returning(_MESSAGES.c.id))
_INBOUND_BY_PROVIDER = Statement(sa_select(_MESSAGES.c.id).where(
    _MESSAGES.c.channel == bindparam("channel"), _MESSAGES.c.direction == "in",
    _MESSAGES.c.provider_id == bindparam("provider_id")))
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


@lru_cache(maxsize=64)
def _participant_update(names: tuple[str, ...]) -> Statement:
    return Statement(sa_update(_PARTICIPANTS).where(_PARTICIPANTS.c.id == bindparam("pid"))
                     .values({name: bindparam(name) for name in names}))


# --- participants -----------------------------------------------------------------------


def get_participant(
    *, session: Session, channel: str, key: str, lock: bool = False
) -> Participant | None:
    """The ORM participant (callers that go on to change it through the session)."""
    locked = lock and session.get_bind().dialect.name == "postgresql"
    stmt = _PARTICIPANT_BY_KEY_LOCKED if locked else _PARTICIPANT_BY_KEY
    return session.execute(stmt, {"channel": channel, "key": key}).scalars().first()


def lock_participants(*, session: Store, keys: Sequence[str]) -> None:
    """PostgreSQL: lock the stored participants among ``keys`` (a batch of inbound messages)
    in one statement, in id order, so two batches can never deadlock. Reads after it see
    every change committed by the transactions it waited for. SQLite: ``BEGIN IMMEDIATE``
    already holds the only write lock, so nothing to do."""
    tx = as_tx(session)
    if tx.is_pg and keys:
        tx.send(_LOCK_KEYS, {"keys": list_param(tx, list(dict.fromkeys(keys)))})  # next read waits


def participant_and_active_run(
    *, session: Store, channel: str, key: str, lock: bool = False
) -> tuple[ParticipantRow, RunRow | None] | None:
    """The participant for (channel, key) and its newest waiting run. None when unknown.

    One statement. On PostgreSQL with ``lock`` the participant row is locked by a statement
    of its own first: a statement that waited for a lock still reads the other tables as of
    its own start, so locking and reading at once could miss the run update made by the
    transaction it waited for (a lost update). Callers that locked already (a batch, see
    ``lock_participants``) pass ``lock=False``.
    """
    tx = as_tx(session)
    if lock and tx.is_pg and tx.first(_PARTICIPANT_ID_BY_KEY_LOCKED,
                                      {"channel": channel, "key": key}) is None:
        return None
    row = tx.first(_PARTICIPANT_AND_RUN, {"channel": channel, "key": key})
    if row is None:
        return None
    return participant_row(row[:N_PARTICIPANT]), run_row(row[N_PARTICIPANT:])


def participant_by_id(*, session: Store, participant_id: int,
                      lock: bool = False) -> ParticipantRow | None:
    """The participant record (row-locked on PostgreSQL with ``lock``)."""
    tx = as_tx(session)
    statement = _PARTICIPANT_BY_ID_LOCKED if lock else _PARTICIPANT_BY_ID_PLAIN
    row = tx.first(statement, {"pid": participant_id})
    return participant_row(row) if row is not None else None


def create_participant(*, session: Store, channel: str, key: str, address_enc: bytes,
                       now: datetime, language: str = "en") -> ParticipantRow | None:
    """Insert the participant unless (channel, key) exists; the new row when this call
    created it, None when it existed. A concurrent first message from the same person makes
    this wait, then do nothing. The row this transaction inserted is its own until commit:
    nobody else can read, lock or insert it meanwhile."""
    _require_aware(now)
    row = as_tx(session).first(_CREATE_PARTICIPANT, {
        "key": key, "channel": channel, "address_enc": address_enc, "language": language,
        "created_at": now})
    return participant_row(row) if row is not None else None


def ensure_participant(
    *, session: Store, channel: str, key: str, address_enc: bytes, now: datetime,
    language: str = "en",
) -> tuple[ParticipantRow, RunRow | None, bool]:
    """For a (channel, key) the caller just read and found unknown: the participant record,
    created now, locked on PostgreSQL so one person's messages are handled one after
    another. Returns (participant, its waiting run, created). Usually the insert made it:
    one statement, no run yet. Otherwise a concurrent first message made it (and maybe a
    run) since the caller's read, and it is locked and read here."""
    tx = as_tx(session)
    made = create_participant(session=tx, channel=channel, key=key, address_enc=address_enc,
                              now=now, language=language)
    if made is not None:
        return made, None, True
    if tx.is_pg:
        tx.first(_PARTICIPANT_ID_BY_KEY_LOCKED, {"channel": channel, "key": key})
    found = participant_and_active_run(session=tx, channel=channel, key=key)
    if found is None:  # pragma: no cover - the insert found the row, so it exists
        raise RuntimeError("participant vanished during creation")
    return found[0], found[1], False


def get_or_create_participant(
    *,
    session: Session,
    channel: str,
    key: str,
    address_enc: bytes,
    now: datetime,
    language: str = "en",
    lock: bool = True,
) -> tuple[Participant, bool]:
    """The ORM participant for (channel, key), created when new; row-locked on PostgreSQL so
    one person's messages are handled one after another. Returns (participant, created)."""
    _require_aware(now)
    found = get_participant(session=session, channel=channel, key=key, lock=lock)
    if found is not None:
        return found, False
    created = create_participant(session=session, channel=channel, key=key,
                                 address_enc=address_enc, now=now, language=language) is not None
    found = get_participant(session=session, channel=channel, key=key, lock=lock)
    if found is None:  # pragma: no cover - the row was just inserted or already existed
        raise RuntimeError("participant vanished during creation")
    return found, created


def delete_participant(*, session: Store, participant_id: int) -> None:
    """Drop a participant row made in this transaction for nothing (a duplicate delivery)."""
    as_tx(session).send(_DELETE_PARTICIPANT, {"pid": participant_id})


# --- consent ----------------------------------------------------------------------------


def record_consent(
    *,
    session: Store,
    participant: Any,
    scope: str,
    status: str,
    text_version: str,
    now: datetime,
    source: str = "flow",
    audit_actor: str = "participant",
) -> int:
    """Append to the consent ledger, update the participant's cached status, audit it.

    ``scope`` "all" (opt-out/opt-in/erasure) updates every scope's cached status for
    opt-out, and the ``opted_out`` flag. The ledger row is written with one INSERT (no
    flush); returns its id. ``participant`` is a record or an ORM instance (kept in step
    either way).
    """
    from engage import audit

    _require_aware(now)
    if status not in CONSENT_STATUSES:
        raise ValueError(f"unknown consent status {status!r}")
    if scope not in (*CONSENT_SCOPES, "all"):
        raise ValueError(f"unknown consent scope {scope!r}")
    tx = as_tx(session)
    version = text_version or "unversioned"
    changes: dict[str, Any] = {}
    if scope == "all":
        if status == "opted_out":
            changes["opted_out"] = True
            for name in CONSENT_SCOPES:
                if getattr(participant, f"consent_{name}") == "granted":
                    changes[f"consent_{name}"] = "withdrawn"
        elif status == "opted_in":
            changes["opted_out"] = False
    else:
        changes[f"consent_{scope}"] = status
    if participant.id is None:  # an ORM object not stored yet: the unit of work inserts it
        for name, value in changes.items():
            setattr(participant, name, value)
        session = tx.orm_session()
        session.add(participant)
        session.flush()
    else:
        update_participant(session=tx, participant=participant, **changes)
    entry_id = int(tx.scalar(_CONSENT_INSERT, {
        "participant_id": participant.id, "scope": scope, "status": status,
        "text_version": version, "source": source, "at": now}))
    audit.append(session=tx, actor=audit_actor, action=f"consent.{status}",
                 subject=f"participant:{participant.id}",
                 details={"scope": scope, "text_version": version, "source": source,
                          "entry": entry_id},
                 now=now)
    return entry_id


def update_participant(*, session: Store, participant: Any, **values: Any) -> None:
    """Set columns of a stored participant with one UPDATE (only the values that differ) and
    keep the object (record or ORM instance) in step, so no unit-of-work flush is needed for
    it later. An ORM participant not stored yet just gets the attributes (its INSERT carries
    them)."""
    orm = hasattr(participant, "_sa_instance_state")
    if participant.id is None or (orm and not sa_inspect(participant).persistent):
        for name, value in values.items():
            setattr(participant, name, value)
        as_tx(session).orm_session().add(participant)
        return
    changed = {name: value for name, value in values.items()
               if getattr(participant, name) != value}
    if not changed:
        return
    names = tuple(sorted(changed))
    as_tx(session).send(_participant_update(names), {"pid": participant.id, **changed})
    for name, value in changed.items():
        _set(participant, name, value)


def has_consent(participant: Any, scope: str) -> bool:
    """True when the latest ledger status for ``scope`` is granted and not opted out."""
    if participant.opted_out or participant.erased_at is not None:
        return False
    return getattr(participant, f"consent_{scope}", None) == "granted"


# --- runs -------------------------------------------------------------------------------


def active_run(*, session: Store, participant_id: int) -> RunRow | None:
    """The participant's waiting run (newest), if any."""
    row = as_tx(session).first(_ACTIVE_RUN, {"pid": participant_id})
    return run_row(row) if row is not None else None


def run_by_id(*, session: Store, run_id: int) -> RunRow | None:
    row = as_tx(session).first(_RUN_BY_ID, {"run_id": run_id})
    return run_row(row) if row is not None else None


def has_runs(*, session: Store, participant_id: int) -> bool:
    """Whether the participant ever had a run (a stranger's first message starts one)."""
    return as_tx(session).first(_HAS_RUNS, {"pid": participant_id}) is not None


_LATEST_RUN = Statement(sa_select(_RUNS.c.flow_id, _RUNS.c.status)
                        .where(_RUNS.c.participant_id == bindparam("pid"))
                        .order_by(_RUNS.c.id.desc()).limit(1))


def latest_run(*, session: Store, participant_id: int) -> tuple[str, str] | None:
    """(flow id, status) of the participant's newest run, if any."""
    row = as_tx(session).first(_LATEST_RUN, {"pid": participant_id})
    return (str(row[0]), str(row[1])) if row is not None else None


def insert_run(*, session: Store, participant_id: int, flow_id: str,
               flow_version_id: int | None, status: str, now: datetime,
               campaign_id: int | None = None, session_id: int | None = None) -> RunRow:
    """A new run (its state is written by ``save_run`` once the engine has started it)."""
    _require_aware(now)
    values: dict[str, Any] = {
        "participant_id": participant_id, "flow_id": flow_id,
        "flow_version_id": flow_version_id, "status": status, "state": "{}",
        "campaign_id": campaign_id, "session_id": session_id, "wake_at": None,
        "started_at": now, "updated_at": now, "ended_at": None}
    run_id = as_tx(session).scalar(_INSERT_RUN, values)
    return RunRow(id=int(run_id), **values)


def save_run(*, session: Store, run: Any) -> None:
    """Write a run's changing columns (state, status, wake_at, updated_at, ended_at).
    Deferred in a batch (``Tx.defer``): the last save of a run in the batch is its state."""
    as_tx(session).defer(_SAVE_RUN, {"run_pk": run.id,
                                        **{name: getattr(run, name) for name in _RUN_FIELDS}})
    if hasattr(run, "_sa_instance_state"):
        for name in _RUN_FIELDS:
            set_committed_value(run, name, getattr(run, name))


def end_run(*, run: Any, status: str, now: datetime) -> None:
    """Close a run without the engine (opt-out, superseded); keeps the state for the record.
    Changes the object only: ORM callers add it to their session, others ``save_run`` it."""
    run.state = json.dumps(engine.end(json.loads(run.state), status), separators=(",", ":"))
    run.status = status
    run.wake_at = None
    run.ended_at = now
    run.updated_at = now


# --- messages and outbox ----------------------------------------------------------------


def add_inbound_message(
    *, session: Store, participant_id: int | None, channel: str, provider_id: str,
    body: str | None, now: datetime, run_id: int | None = None, status: str = "received",
) -> int | None:
    """Insert the inbound row unless (channel, provider id) exists: returns the new id, or
    None for a duplicate. One statement does the dedupe check and the insert (hot path)."""
    _require_aware(now)
    new_id = as_tx(session).scalar(_MESSAGE_INSERT, {
        "participant_id": participant_id, "run_id": run_id, "channel": channel,
        "direction": "in", "provider_id": provider_id, "body": body, "status": status,
        "created_at": now, "segments": None, "encoding": None, "error_code": None,
        "purged_at": None})
    return int(new_id) if new_id is not None else None


def find_inbound_message(*, session: Store, channel: str, provider_id: str) -> int | None:
    """The id of the inbound message with this provider id, if it was already handled."""
    found = as_tx(session).scalar(_INBOUND_BY_PROVIDER,
                                  {"channel": channel, "provider_id": provider_id})
    return int(found) if found is not None else None


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


def insert_outbox(
    *,
    session: Store,
    participant: Any,
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
    defer: bool = False,
) -> int | None:
    """``enqueue_outbox`` without loading the row back: returns the new id or None. With
    ``defer`` (a batch, see ``Tx.defer``) the row is queued and None returned: the caller
    finds the id by its dedupe key (``outbox_ids_for_keys``)."""
    _require_aware(now)
    if kind not in OUTBOX_KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    if kind != "confirmation" and (participant.opted_out or participant.erased_at is not None):
        return None
    not_before = now
    if kind in HELD_KINDS:
        if quiet_window is None or timezone is None:
            from engage.config import get_settings

            settings = get_settings()
            quiet_window = quiet_window or settings.quiet_window
            timezone = timezone or settings.timezone
        not_before = next_allowed_send(now, participant.timezone or timezone, quiet_window)
    values = {
        "participant_id": participant.id, "run_id": run_id, "channel": channel, "kind": kind,
        "body": body, "buttons": _buttons_json(buttons), "dedupe_key": dedupe_key,
        "status": "pending", "not_before": not_before, "attempts": 0, "created_at": now,
        "address_enc": address_enc, "lease_until": None, "claimed_by": None,
        "message_id": None, "provider_id": None, "error": None, "sent_at": None,
        "attempted_at": None}
    tx = as_tx(session)
    if defer and tx.deferring:
        tx.defer(_OUTBOX_QUEUED, values)
        return None
    new_id = tx.scalar(_OUTBOX_INSERT, values)
    return int(new_id) if new_id is not None else None


def enqueue_outbox(
    *,
    session: Session,
    participant: Participant,
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

    ``quiet_window``/``timezone`` default to the settings (ENGAGE_QUIET_HOURS, ENGAGE_TIMEZONE).
    ``address_enc`` is only for a message whose participant address is already gone (the
    erasure confirmation).
    """
    new_id = insert_outbox(session=session, participant=participant, channel=channel, body=body,
                           kind=kind, dedupe_key=dedupe_key, now=now, buttons=buttons,
                           run_id=run_id, quiet_window=quiet_window, timezone=timezone,
                           address_enc=address_enc)
    return session.get(Outbox, new_id) if new_id is not None else None


def cancel_pending_outbox(
    *, session: Store, participant_id: int, keep_confirmations: bool = True, reason: str
) -> int:
    """Cancel queued messages (opt-out): confirmations stay unless ``keep_confirmations``."""
    return as_tx(session).execute(_CANCEL_PENDING[keep_confirmations],
                                  {"pid": participant_id, "reason": reason[:300]})


_RUN_REACHED = Statement(sa_select(_OUTBOX.c.id).where(
    _OUTBOX.c.run_id == bindparam("run_id"),
    or_(_OUTBOX.c.kind == "reply", _OUTBOX.c.kind == "confirmation",
        and_(_OUTBOX.c.status != "pending", _OUTBOX.c.status != "cancelled",
             _OUTBOX.c.status != "failed"))).limit(1))
_RELEASE_RUN = Statement(sa_update(_OUTBOX).where(
    _OUTBOX.c.run_id == bindparam("run_id"), _OUTBOX.c.status == "pending")
    .values(not_before=bindparam("now"), kind="reply").returning(_OUTBOX.c.id))


def release_unreached(*, session: Store, run_id: int, now: datetime) -> tuple[int, ...] | None:
    """A run we started (campaign, invitation) that the resident never received: nothing of
    it was sent and they never replied in it (its opening is still held by quiet hours or the
    send queue, or was dropped). Its queued messages are released to go now as replies to the
    resident's own message (quiet hours hold only what we send unasked), and their ids
    returned (empty: nothing is left to send). None when the run did reach the resident (the
    usual case)."""
    tx = as_tx(session)
    if tx.first(_RUN_REACHED, {"run_id": run_id}) is not None:
        return None
    return tuple(int(row[0]) for row in tx.all(_RELEASE_RUN, {"run_id": run_id, "now": now}))


def outbox_ids_for_prefix(*, session: Store, prefix: str) -> tuple[int, ...]:
    """Outbox rows whose dedupe key starts with ``prefix`` (a duplicate inbound's outcome)."""
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return tuple(int(row[0]) for row in as_tx(session).all(_OUTBOX_BY_PREFIX, {"like": like}))


# --- responses, message bookkeeping, wake-ups (the runtime's other statements) ------------

_RESPONSES = Response.__table__  # type: ignore[attr-defined]


def _response_upsert(dialect_name: str) -> Any:
    stmt = insert_for(dialect_name, _RESPONSES).values(_values(_RESPONSES))
    return stmt.on_conflict_do_update(
        index_elements=["run_id", "name"],
        set_={c.name: stmt.excluded[c.name] for c in _RESPONSES.columns
              if c.name not in ("id", "run_id", "name")})


_UPSERT_RESPONSE = Statement(_response_upsert)
_SET_INBOUND_RUN = Statement(sa_update(_MESSAGES).where(
    _MESSAGES.c.channel == bindparam("channel"), _MESSAGES.c.direction == "in",
    _MESSAGES.c.provider_id == bindparam("provider_id")).values(run_id=bindparam("run_id")))
_ANONYMIZE_MESSAGE = Statement(sa_update(_MESSAGES)
                               .where(_MESSAGES.c.id == bindparam("message_id"))
                               .values(participant_id=None, body=None, status="erased"))
_DUE_RUNS = Statement(sa_select(_RUNS.c.id, _RUNS.c.participant_id)
                      .where(_RUNS.c.status == ACTIVE_RUN, _RUNS.c.wake_at <= bindparam("now"))
                      .order_by(_RUNS.c.wake_at).limit(bindparam("limit")))
# what a resident's runs were started by: read by the resident (a handful of rows), never by
# campaign or session (see ``participant_has_run``)
_RUN_ORIGINS = Statement(sa_select(_RUNS.c.campaign_id, _RUNS.c.session_id, _RUNS.c.flow_id)
                         .where(_RUNS.c.participant_id == bindparam("pid")))


def upsert_response(*, session: Store, values: dict[str, Any]) -> None:
    """Store one answer: a re-answered question (run, name) replaces the earlier answer.
    Deferred in a batch (``Tx.defer``): answers only ever go to runs that already exist."""
    as_tx(session).defer(_UPSERT_RESPONSE, values)


def set_inbound_message_run(*, session: Store, channel: str, provider_id: str,
                            run_id: int) -> None:
    """Link an inbound row, known by its provider id (unique per channel), to the run it
    started, so the runtime need not read back the id of a row it queued. Deferred: it is
    queued after the row's INSERT, which the read of the new run's id already sent."""
    as_tx(session).defer(_SET_INBOUND_RUN, {"channel": channel, "provider_id": provider_id,
                                            "run_id": run_id})


def anonymize_message(*, session: Store, message_id: int) -> None:
    """Keep a message row with nothing personal in it (a DELETE's own row: its redelivery
    must still be recognised as a duplicate)."""
    as_tx(session).send(_ANONYMIZE_MESSAGE, {"message_id": message_id})


def due_runs(*, session: Store, now: datetime, limit: int) -> list[tuple[int, int]]:
    """(run id, participant id) of waiting runs whose ``wake_at`` has passed, oldest first."""
    _require_aware(now)
    return [(int(r), int(p)) for r, p in as_tx(session).all(_DUE_RUNS,
                                                            {"now": now, "limit": limit})]


def participant_has_run(*, session: Store, participant_id: int,
                        campaign_id: int | None = None, session_id: int | None = None,
                        flow_id: str | None = None) -> bool:
    """Whether this campaign, or this dialogue session's ``flow_id``, already started a run
    for the participant (so a resident who declined hears nothing more from it).

    The resident's runs are read and matched here, rather than asked for with the campaign
    in the WHERE clause: a campaign being fanned out is newer than the planner's statistics,
    so PostgreSQL takes it for a rare value and walks the campaign's index, every run the
    campaign has made so far, for each resident (measured: 0.6 -> 2.1 ms per resident over
    a 30,000-resident fan-out, and growing)."""
    origins = as_tx(session).all(_RUN_ORIGINS, {"pid": participant_id})
    if campaign_id is not None:
        return any(row[0] == campaign_id for row in origins)
    return any(row[1] == session_id and row[2] == flow_id for row in origins)


# --- batches of inbound messages (see runtime: several messages, one transaction) --------


def in_list(dialect_name: str, column: Any, name: str, item_type: Any = String) -> Any:
    """``column IN <one list parameter>``: ``= ANY(array)`` on PostgreSQL, ``json_each`` of a
    JSON array on SQLite (an expanding IN list cannot be prepared once). Bind the list with
    ``list_param``."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(item_type)))
    return column.in_(sa_select(literal_column("value")).select_from(
        func.json_each(bindparam(name))))


def list_param(tx: Tx, values: Sequence[Any]) -> Any:
    return list(values) if tx.is_pg else json.dumps(list(values))


_PREFETCH = Statement(lambda d: sa_select(*PARTICIPANT_COLUMNS, *RUN_COLUMNS)
                      .select_from(_PARTICIPANTS.outerjoin(_RUNS, and_(
                          _RUNS.c.participant_id == _PARTICIPANTS.c.id,
                          _RUNS.c.status == ACTIVE_RUN)))
                      .where(in_list(d, _PARTICIPANTS.c.key, "keys"))
                      .order_by(_PARTICIPANTS.c.id, _RUNS.c.id))
_KNOWN_INBOUND = Statement(lambda d: sa_select(_MESSAGES.c.provider_id).where(
    _MESSAGES.c.channel == bindparam("channel"), _MESSAGES.c.direction == "in",
    in_list(d, _MESSAGES.c.provider_id, "ids")))
_MESSAGE_INSERT_PLAIN = Statement(sa_insert(_MESSAGES).values(_values(_MESSAGES)))
_OUTBOX_BY_KEYS = Statement(lambda d: sa_select(_OUTBOX.c.dedupe_key, _OUTBOX.c.id).where(
    in_list(d, _OUTBOX.c.dedupe_key, "keys")))


def prefetch_participants(
    *, session: Store, keys: Sequence[tuple[str, str]],
) -> dict[tuple[str, str], tuple[ParticipantRow, RunRow | None]]:
    """(channel, key) -> the participant and its newest waiting run, for every stored one
    among ``keys``: one statement for a whole batch instead of one per message. On
    PostgreSQL call it after ``lock_participants`` (it then reads what the lock waited for)."""
    tx = as_tx(session)
    if not keys:
        return {}
    wanted = set(keys)
    found: dict[tuple[str, str], tuple[ParticipantRow, RunRow | None]] = {}
    for row in tx.all(_PREFETCH, {"keys": list_param(tx, [key for _, key in wanted])}):
        participant = participant_row(row[:N_PARTICIPANT])
        place = (participant.channel, participant.key)
        if place in wanted:  # ordered by run id: the newest waiting run comes last
            found[place] = (participant, run_row(row[N_PARTICIPANT:]))
    return found


def known_inbound_later(*, session: Store, channel: str,
                        provider_ids: Sequence[str]) -> Callable[[], set[str]]:
    """Which of these provider message ids are already stored (a batch's dedupe, one read),
    sent now and answered with the next read (``Tx.all_later``)."""
    if not provider_ids:
        return set
    tx = as_tx(session)
    rows = tx.all_later(_KNOWN_INBOUND, {
        "channel": channel, "ids": list_param(tx, list(dict.fromkeys(provider_ids)))})
    return lambda: {str(row[0]) for row in rows()}


def queue_inbound_message(*, session: Store, participant_id: int, channel: str,
                          provider_id: str, body: str | None, now: datetime,
                          run_id: int | None = None) -> None:
    """Insert an inbound row that ``known_inbound`` showed is new, as a deferred write. A
    plain INSERT, not ON CONFLICT DO NOTHING: if a concurrent delivery stored the same id
    meanwhile, the unique index fails the whole transaction instead of the message being
    handled twice (the batch is then redone one message at a time, which finds it)."""
    _require_aware(now)
    as_tx(session).defer(_MESSAGE_INSERT_PLAIN, {
        "participant_id": participant_id, "run_id": run_id, "channel": channel,
        "direction": "in", "provider_id": provider_id, "body": body, "status": "received",
        "created_at": now, "segments": None, "encoding": None, "error_code": None,
        "purged_at": None})


def outbox_ids_for_keys(*, session: Store, keys: Sequence[str]) -> Callable[[], dict[str, int]]:
    """dedupe key -> outbox id for the stored rows among ``keys`` (one read per batch), sent
    now and answered with the next sync: a batch's last read, it shares the COMMIT's round
    trip (``Tx.all_later``)."""
    if not keys:
        return dict
    tx = as_tx(session)
    rows = tx.all_later(_OUTBOX_BY_KEYS, {"keys": list_param(tx, keys)})
    return lambda: {str(key): int(row_id) for key, row_id in rows()}
