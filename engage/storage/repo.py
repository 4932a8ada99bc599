"""Keyword-only repository functions: the few writes every module shares.

Why functions and not methods on models: callers pass the session explicitly, so the
transaction boundary is always visible at the call site (the runtime's one-transaction rule).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, time
from typing import Any

from sqlalchemy import Insert, and_, bindparam
from sqlalchemy import insert as sa_insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from engage.compliance import next_allowed_send
from engage.storage.models import ConsentEntry, Message, Outbox, Participant, Run

HELD_KINDS = frozenset({"campaign", "reminder", "invitation"})
OUTBOX_KINDS = frozenset({"reply", "confirmation", "campaign", "reminder", "invitation", "system"})
CONSENT_SCOPES = ("surveys", "dialogue", "quotes")
CONSENT_STATUSES = frozenset(
    {"granted", "declined", "withdrawn", "opted_out", "opted_in", "erased"})
ACTIVE_RUN = "waiting"

# Statements built once: the hot path only binds parameters (SQLAlchemy's compiled cache).
_PARTICIPANT_BY_KEY = select(Participant).where(
    Participant.channel == bindparam("channel"), Participant.key == bindparam("key"))
_PARTICIPANT_BY_KEY_LOCKED = _PARTICIPANT_BY_KEY.with_for_update()
_INBOUND_BY_PROVIDER = sa_select(Message.__table__.c.id).where(
    Message.__table__.c.channel == bindparam("channel"),
    Message.__table__.c.direction == "in",
    Message.__table__.c.provider_id == bindparam("provider_id"))
_ACTIVE_RUN = (select(Run).where(Run.participant_id == bindparam("pid"), Run.status == ACTIVE_RUN)
               .order_by(col(Run.id).desc()).limit(1))
_PARTICIPANTS = Participant.__table__
_CONSENT_INSERT = sa_insert(ConsentEntry.__table__).returning(ConsentEntry.__table__.c.id)
# participant + its newest waiting run in ONE statement (the inbound hot path)
_PARTICIPANT_AND_RUN = (
    sa_select(Participant, Run)
    .outerjoin(Run, and_(col(Run.participant_id) == col(Participant.id),
                         col(Run.status) == ACTIVE_RUN))
    .where(col(Participant.channel) == bindparam("channel"),
           col(Participant.key) == bindparam("key"))
    .order_by(col(Run.id).desc()).limit(1))


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("naive datetime rejected: use aware UTC datetimes")


def dialect_insert(session: Session, model: Any) -> Insert:
    """``INSERT`` that supports ``on_conflict_do_nothing`` on both supported backends."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise RuntimeError(f"unsupported database dialect {name!r}")


# --- participants -----------------------------------------------------------------------


def get_participant(
    *, session: Session, channel: str, key: str, lock: bool = False
) -> Participant | None:
    locked = lock and session.get_bind().dialect.name == "postgresql"
    stmt = _PARTICIPANT_BY_KEY_LOCKED if locked else _PARTICIPANT_BY_KEY
    return session.execute(stmt, {"channel": channel, "key": key}).scalars().first()


def participant_and_active_run(
    *, session: Session, channel: str, key: str, lock: bool = False
) -> tuple[Participant, Run | None] | None:
    """The participant for (channel, key) and its newest waiting run. None when unknown.

    SQLite: one statement (the write lock taken by BEGIN IMMEDIATE already serializes).
    PostgreSQL with ``lock``: the participant row is locked first and the run read by a
    second statement: a statement that waited for the lock still sees its own (older)
    snapshot of the run table, so reading both at once could miss the update made by the
    transaction it waited for (a lost update).
    """
    if lock and session.get_bind().dialect.name == "postgresql":
        participant = get_participant(session=session, channel=channel, key=key, lock=True)
        if participant is None:
            return None
        return participant, active_run(session=session, participant_id=participant.id or 0)
    row = session.execute(_PARTICIPANT_AND_RUN, {"channel": channel, "key": key}).first()
    if row is None:
        return None
    return row[0], row[1]


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
    """The participant for (channel, key), created when new; row-locked on PostgreSQL so one
    person's messages are handled one after another. Returns (participant, created)."""
    _require_aware(now)
    found = get_participant(session=session, channel=channel, key=key, lock=lock)
    if found is not None:
        return found, False
    stmt = (
        dialect_insert(session, Participant)
        .values(key=key, channel=channel, address_enc=address_enc, language=language,
                created_at=now, opted_out=False)
        .on_conflict_do_nothing(index_elements=["channel", "key"])
        .returning(Participant.id)
    )
    created = session.execute(stmt).first() is not None
    found = get_participant(session=session, channel=channel, key=key, lock=lock)
    if found is None:  # pragma: no cover - the row was just inserted or already existed
        raise RuntimeError("participant vanished during creation")
    return found, created


# --- consent ----------------------------------------------------------------------------


def record_consent(
    *,
    session: Session,
    participant: Participant,
    scope: str,
    status: str,
    text_version: str,
    now: datetime,
    source: str = "flow",
    audit_actor: str = "participant",
) -> ConsentEntry:
    """Append to the consent ledger, update the participant's cached status, audit it.

    ``scope`` "all" (opt-out/opt-in/erasure) updates every scope's cached status for
    opt-out, and the ``opted_out`` flag. The ledger row is written with one INSERT (no
    flush); the returned ``ConsentEntry`` is a read-only copy of it, not in the session.
    """
    from engage import audit

    _require_aware(now)
    if status not in CONSENT_STATUSES:
        raise ValueError(f"unknown consent status {status!r}")
    if scope not in (*CONSENT_SCOPES, "all"):
        raise ValueError(f"unknown consent scope {scope!r}")
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
    if participant.id is None:  # not stored yet: the unit of work inserts it first
        for name, value in changes.items():
            setattr(participant, name, value)
        session.add(participant)
        session.flush()
    else:
        update_participant(session=session, participant=participant, **changes)
    # one INSERT ... RETURNING instead of add + flush (this runs inside inbound messages)
    entry_id = session.connection().execute(_CONSENT_INSERT, {
        "participant_id": participant.id, "scope": scope, "status": status,
        "text_version": version, "source": source, "at": now}).scalar_one()
    entry = ConsentEntry(id=entry_id, participant_id=participant.id, scope=scope, status=status,
                         text_version=version, source=source, at=now)
    audit.append(session=session, actor=audit_actor, action=f"consent.{status}",
                 subject=f"participant:{participant.id}",
                 details={"scope": scope, "text_version": version, "source": source,
                          "entry": entry_id},
                 now=now)
    return entry


def update_participant(*, session: Session, participant: Participant, **values: Any) -> None:
    """Set columns of a stored participant with one UPDATE (only the values that differ) and
    mark them as committed on the object, so no unit-of-work flush is needed for it later.
    A participant not stored yet just gets the attributes (its INSERT carries them)."""
    if participant.id is None or not sa_inspect(participant).persistent:
        for name, value in values.items():
            setattr(participant, name, value)
        session.add(participant)
        return
    changed = {name: value for name, value in values.items()
               if getattr(participant, name) != value}
    if not changed:
        return
    session.connection().execute(
        _PARTICIPANTS.update().where(_PARTICIPANTS.c.id == participant.id).values(**changed))
    for name, value in changed.items():
        set_committed_value(participant, name, value)


def has_consent(participant: Participant, scope: str) -> bool:
    """True when the latest ledger status for ``scope`` is granted and not opted out."""
    if participant.opted_out or participant.erased_at is not None:
        return False
    return getattr(participant, f"consent_{scope}", None) == "granted"


# --- runs -------------------------------------------------------------------------------


def active_run(*, session: Session, participant_id: int) -> Run | None:
    """The participant's waiting run (newest), if any."""
    return session.execute(_ACTIVE_RUN, {"pid": participant_id}).scalars().first()


def end_run(*, run: Run, status: str, now: datetime) -> None:
    """Close a run without the engine (opt-out, superseded); keeps the state for the record."""
    state = json.loads(run.state)
    state["status"] = status if status in ("completed", "declined", "expired") else "expired"
    state["wake_at"] = None
    run.state = json.dumps(state, separators=(",", ":"))
    run.status = status
    run.wake_at = None
    run.ended_at = now
    run.updated_at = now


# --- messages and outbox ----------------------------------------------------------------

_MESSAGE_INSERT: dict[str, Insert] = {}
_OUTBOX_INSERT: dict[str, Insert] = {}


def add_inbound_message(
    *, session: Session, participant_id: int | None, channel: str, provider_id: str,
    body: str | None, now: datetime, run_id: int | None = None, status: str = "received",
) -> int | None:
    """Insert the inbound row unless (channel, provider id) exists: returns the new id, or
    None for a duplicate. One statement does the dedupe check and the insert (hot path)."""
    _require_aware(now)
    dialect = session.get_bind().dialect.name
    stmt = _MESSAGE_INSERT.get(dialect)
    if stmt is None:
        table = Message.__table__
        stmt = _MESSAGE_INSERT[dialect] = (
            dialect_insert(session, table)
            .on_conflict_do_nothing(index_elements=["channel", "direction", "provider_id"])
            .returning(table.c.id)
        )
    row = session.connection().execute(stmt, {
        "participant_id": participant_id, "run_id": run_id, "channel": channel,
        "direction": "in", "provider_id": provider_id, "body": body, "status": status,
        "created_at": now, "segments": None, "encoding": None, "error_code": None,
        "purged_at": None}).first()
    return int(row[0]) if row is not None else None


def find_inbound_message(*, session: Session, channel: str, provider_id: str) -> int | None:
    """The id of the inbound message with this provider id, if it was already handled."""
    row = session.connection().execute(
        _INBOUND_BY_PROVIDER, {"channel": channel, "provider_id": provider_id}).first()
    return int(row[0]) if row is not None else None


def _buttons_json(buttons: Iterable[Any] | None) -> str | None:
    if not buttons:
        return None
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
) -> int | None:
    """``enqueue_outbox`` without loading the row back: returns the new id or None."""
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
    dialect = session.get_bind().dialect.name
    stmt = _OUTBOX_INSERT.get(dialect)
    if stmt is None:
        table = Outbox.__table__
        stmt = _OUTBOX_INSERT[dialect] = (
            dialect_insert(session, table)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(table.c.id)
        )
    row = session.connection().execute(stmt, {
        "participant_id": participant.id, "run_id": run_id, "channel": channel, "kind": kind,
        "body": body, "buttons": _buttons_json(buttons), "dedupe_key": dedupe_key,
        "status": "pending", "not_before": not_before, "attempts": 0, "created_at": now,
        "address_enc": address_enc, "lease_until": None, "claimed_by": None,
        "message_id": None, "provider_id": None, "error": None, "sent_at": None}).first()
    return int(row[0]) if row is not None else None


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
    *, session: Session, participant_id: int, keep_confirmations: bool = True, reason: str
) -> int:
    """Cancel queued messages (opt-out): confirmations stay unless ``keep_confirmations``."""
    from sqlalchemy import update

    stmt = update(Outbox).where(
        col(Outbox.participant_id) == participant_id,
        col(Outbox.status).in_(("pending", "claimed")),
    )
    if keep_confirmations:
        stmt = stmt.where(col(Outbox.kind) != "confirmation")
    result = session.execute(stmt.values(status="cancelled", error=reason[:300]))
    return int(result.rowcount or 0)


def outbox_ids_for_prefix(*, session: Session, prefix: str) -> tuple[int, ...]:
    """Outbox rows whose dedupe key starts with ``prefix`` (a duplicate inbound's outcome)."""
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    stmt = select(Outbox.id).where(col(Outbox.dedupe_key).like(like, escape="\\")).order_by(
        col(Outbox.id)
    )
    return tuple(int(i) for i in session.exec(stmt).all() if i is not None)


def outbox_recipient(*, session: Session, outbox: Outbox, secret: bytes) -> str | None:
    """The decrypted address to send ``outbox`` to: the row's own copy (erasure confirmation)
    or the participant's. None when there is nowhere to send it (erased, no copy)."""
    from engage.privacy import decrypt_address

    blob = outbox.address_enc
    if blob is None and outbox.participant_id is not None:
        participant = session.get(Participant, outbox.participant_id)
        blob = participant.address_enc if participant is not None else None
    return decrypt_address(secret, blob) if blob is not None else None


def mark_outbox_sent(
    *, session: Session, outbox: Outbox, provider_id: str | None, now: datetime,
    segments: int | None = None, encoding: str | None = None, status: str = "sent",
) -> Message:
    """Record a successful send: an outbound Message row, the outbox row marked sent, and any
    address copy on the row dropped (it was only kept to make this one send possible)."""
    _require_aware(now)
    message = Message(participant_id=outbox.participant_id, run_id=outbox.run_id,
                      channel=outbox.channel, direction="out", provider_id=provider_id,
                      body=outbox.body, status=status, segments=segments, encoding=encoding,
                      created_at=now)
    session.add(message)
    session.flush()
    outbox.status = "sent"
    outbox.sent_at = now
    outbox.provider_id = provider_id
    outbox.message_id = message.id
    outbox.address_enc = None
    outbox.lease_until = None
    session.add(outbox)
    return message
