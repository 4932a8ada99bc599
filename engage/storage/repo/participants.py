"""Participants: find, lock, create, update; the hot path's one-statement reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from sqlalchemy import and_, bindparam
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import Session, select

from engage.storage.records import (
    N_PARTICIPANT,
    PARTICIPANT_COLUMNS,
    RUN_COLUMNS,
    ParticipantFields,
    ParticipantRow,
    RunRow,
    participant_row,
    run_row,
)
from engage.storage.repo._common import (
    _PARTICIPANTS,
    _RUNS,
    ACTIVE_RUN,
    _locked,
    _require_aware,
    _set,
    in_list,
    insert_for,
    list_param,
)
from engage.storage.sql import Statement, Tx
from engage.storage.tables import Participant

_SELECT_PARTICIPANT = sa_select(*PARTICIPANT_COLUMNS)


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


@lru_cache(maxsize=64)
def _participant_update(names: tuple[str, ...]) -> Statement:
    return Statement(sa_update(_PARTICIPANTS).where(_PARTICIPANTS.c.id == bindparam("pid"))
                     .values({name: bindparam(name) for name in names}))


def get_participant(
    *, session: Session, channel: str, key: str, lock: bool = False
) -> Participant | None:
    """The ORM participant (callers that go on to change it through the session)."""
    locked = lock and session.get_bind().dialect.name == "postgresql"
    stmt = _PARTICIPANT_BY_KEY_LOCKED if locked else _PARTICIPANT_BY_KEY
    return session.execute(stmt, {"channel": channel, "key": key}).scalars().first()


def lock_participants(*, tx: Tx, keys: Sequence[str]) -> None:
    """PostgreSQL: lock the stored participants among ``keys`` (a batch of inbound messages)
    in one statement, in id order, so two batches can never deadlock. Reads after it see
    every change committed by the transactions it waited for. SQLite: ``BEGIN IMMEDIATE``
    already holds the only write lock, so nothing to do."""
    if tx.is_pg and keys:
        tx.send(_LOCK_KEYS, {"keys": list_param(tx, list(dict.fromkeys(keys)))})  # next read waits


def participant_and_active_run(
    *, tx: Tx, channel: str, key: str, lock: bool = False
) -> tuple[ParticipantRow, RunRow | None] | None:
    """The participant for (channel, key) and its newest waiting run. None when unknown.

    One statement. On PostgreSQL with ``lock`` the participant row is locked by a statement
    of its own first: a statement that waited for a lock still reads the other tables as of
    its own start, so locking and reading at once could miss the run update made by the
    transaction it waited for (a lost update). Callers that locked already (a batch, see
    ``lock_participants``) pass ``lock=False``.
    """
    if lock and tx.is_pg and tx.first(_PARTICIPANT_ID_BY_KEY_LOCKED,
                                      {"channel": channel, "key": key}) is None:
        return None
    row = tx.first(_PARTICIPANT_AND_RUN, {"channel": channel, "key": key})
    if row is None:
        return None
    return participant_row(row[:N_PARTICIPANT]), run_row(row[N_PARTICIPANT:])


def participant_by_id(*, tx: Tx, participant_id: int,
                      lock: bool = False) -> ParticipantRow | None:
    """The participant record (row-locked on PostgreSQL with ``lock``)."""
    statement = _PARTICIPANT_BY_ID_LOCKED if lock else _PARTICIPANT_BY_ID_PLAIN
    row = tx.first(statement, {"pid": participant_id})
    return participant_row(row) if row is not None else None


def create_participant(*, tx: Tx, channel: str, key: str, address_enc: bytes,
                       now: datetime, language: str = "en") -> ParticipantRow | None:
    """Insert the participant unless (channel, key) exists; the new row when this call
    created it, None when it existed. A concurrent first message from the same person makes
    this wait, then do nothing. The row this transaction inserted is its own until commit:
    nobody else can read, lock or insert it meanwhile."""
    _require_aware(now)
    row = tx.first(_CREATE_PARTICIPANT, {
        "key": key, "channel": channel, "address_enc": address_enc, "language": language,
        "created_at": now})
    return participant_row(row) if row is not None else None


def ensure_participant(
    *, tx: Tx, channel: str, key: str, address_enc: bytes, now: datetime,
    language: str = "en",
) -> tuple[ParticipantRow, RunRow | None, bool]:
    """For a (channel, key) the caller just read and found unknown: the participant record,
    created now, locked on PostgreSQL so one person's messages are handled one after
    another. Returns (participant, its waiting run, created). Usually the insert made it:
    one statement, no run yet. Otherwise a concurrent first message made it (and maybe a
    run) since the caller's read, and it is locked and read here."""
    made = create_participant(tx=tx, channel=channel, key=key, address_enc=address_enc,
                              now=now, language=language)
    if made is not None:
        return made, None, True
    if tx.is_pg:
        tx.first(_PARTICIPANT_ID_BY_KEY_LOCKED, {"channel": channel, "key": key})
    found = participant_and_active_run(tx=tx, channel=channel, key=key)
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
    created = create_participant(tx=Tx.of_session(session), channel=channel, key=key,
                                 address_enc=address_enc, now=now, language=language) is not None
    found = get_participant(session=session, channel=channel, key=key, lock=lock)
    if found is None:  # pragma: no cover - the row was just inserted or already existed
        raise RuntimeError("participant vanished during creation")
    return found, created


def delete_participant(*, tx: Tx, participant_id: int) -> None:
    """Drop a participant row made in this transaction for nothing (a duplicate delivery)."""
    tx.send(_DELETE_PARTICIPANT, {"pid": participant_id})


def update_participant(*, tx: Tx, participant: ParticipantFields, **values: object) -> None:
    """Set columns of a stored participant with one UPDATE (only the values that differ) and
    keep the object (record or ORM instance) in step, so no unit-of-work flush is needed for
    it later. An ORM participant not stored yet just gets the attributes (its INSERT carries
    them)."""
    if participant.id is None or (isinstance(participant, Participant)
                                  and not sa_inspect(participant).persistent):
        for name, value in values.items():
            setattr(participant, name, value)
        tx.orm_session().add(participant)
        return
    changed = {name: value for name, value in values.items()
               if getattr(participant, name) != value}
    if not changed:
        return
    names = tuple(sorted(changed))
    tx.send(_participant_update(names), {"pid": participant.id, **changed})
    for name, value in changed.items():
        _set(participant, name, value)


def has_consent(participant: ParticipantFields, scope: str) -> bool:
    """True when the latest ledger status for ``scope`` is granted and not opted out."""
    if participant.opted_out or participant.erased_at is not None:
        return False
    return getattr(participant, f"consent_{scope}", None) == "granted"


_PREFETCH = Statement(lambda d: sa_select(*PARTICIPANT_COLUMNS, *RUN_COLUMNS)
                      .select_from(_PARTICIPANTS.outerjoin(_RUNS, and_(
                          _RUNS.c.participant_id == _PARTICIPANTS.c.id,
                          _RUNS.c.status == ACTIVE_RUN)))
                      .where(in_list(d, _PARTICIPANTS.c.key, "keys"))
                      .order_by(_PARTICIPANTS.c.id, _RUNS.c.id))


def prefetch_participants(
    *, tx: Tx, keys: Sequence[tuple[str, str]],
) -> dict[tuple[str, str], tuple[ParticipantRow, RunRow | None]]:
    """(channel, key) -> the participant and its newest waiting run, for every stored one
    among ``keys``: one statement for a whole batch instead of one per message. On
    PostgreSQL call it after ``lock_participants`` (it then reads what the lock waited for)."""
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
