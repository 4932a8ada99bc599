"""The outbox queue's statements: take due rows (claims and leases), and write back what
sending did.

Why not the ORM: the dispatcher touches every outbound message twice (claim, then record), and
through the unit of work those two transactions cost more CPU than handling the inbound
message that caused the reply (docs/PERFORMANCE.md). The statements here are built from the
same tables and run through ``storage.sql`` (compiled once, SQLAlchemy's type processors
applied), so what is stored is exactly what the ORM would store. A batch is a handful of
statements whatever its size: one read of the due rows, one of their recipients, one claim
``UPDATE``; then one read of the claims, the outbound messages, and one ``executemany`` per
kind of outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Integer, and_, bindparam, func, or_
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update

from engage.storage.repo import in_list, list_param
from engage.storage.sql import Statement, Tx
from engage.storage.tables import Message, Outbox, Participant

_OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
_PARTICIPANTS = Participant.__table__  # type: ignore[attr-defined]
_MESSAGES = Message.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class OutboxRow:
    """One outbox row as the dispatcher reads it (the table's columns, same names)."""

    id: int
    participant_id: int | None
    run_id: int | None
    channel: str
    kind: str
    body: str | None
    buttons: str | None
    address_enc: bytes | None
    dedupe_key: str
    status: str
    not_before: datetime
    attempts: int
    lease_until: datetime | None
    claimed_by: str | None
    message_id: int | None
    provider_id: str | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    attempted_at: datetime | None = None  # set: in doubt (see Outbox.attempted_at)
    earlier: int = 0  # this resident's unfinished rows queued before this one (see due_rows)


class Recipient(NamedTuple):
    """What deciding to send, cancel or hold a row needs to know about its participant."""

    address_enc: bytes | None
    opted_out: bool
    timezone: str | None


class Claim(NamedTuple):
    """A row's claim as it stands when the outcome is recorded."""

    status: str
    claimed_by: str | None
    attempts: int


@dataclass(slots=True)
class Outcome:
    """What to write back for one sent (or failed, or retried) row."""

    outbox_id: int
    status: str  # sent | failed | pending (a retry)
    attempts: int
    error: str | None = None
    provider_id: str | None = None
    sent_at: datetime | None = None
    not_before: datetime | None = None  # a retry's next attempt
    message: dict[str, Any] | None = None  # the outbound Message row, when one is kept
    attempted_at: datetime | None = None  # kept on a retry whose request may have arrived


OUTBOX_COLUMNS = [_OUTBOX.c[f.name] for f in fields(OutboxRow) if f.name != "earlier"]


HELD_KINDS = ("campaign", "reminder", "invitation")  # held for quiet hours (dispatcher)


def _blocking(other: Any, *, waiting_only: bool) -> Any:
    """An earlier row of the same resident that must leave first: claimed, or pending and
    due, or pending for later unless it is a campaign, reminder or invitation row held for
    quiet hours and never tried (that does not hold a reply back). ``waiting_only``: only
    those that cannot go in this claim."""
    retrying = or_(other.c.attempts > 0, other.c.attempted_at.is_not(None),
                   and_(other.c.kind != HELD_KINDS[0], other.c.kind != HELD_KINDS[1],
                        other.c.kind != HELD_KINDS[2]))
    pending = (and_(other.c.not_before > bindparam("now"), retrying) if waiting_only
               else or_(other.c.not_before <= bindparam("now"), retrying))
    return and_(other.c.participant_id == _OUTBOX.c.participant_id, other.c.id < _OUTBOX.c.id,
                or_(other.c.status == "pending", other.c.status == "claimed"),  # the index
                or_(other.c.status == "claimed", and_(other.c.status == "pending", pending)))


def _due(dialect_name: str, *, of_residents: bool = False) -> Any:
    """Due rows, oldest first (``ix_outbox_due``), each with how many earlier rows of its
    resident must leave first; rows behind one that cannot go now (claimed elsewhere,
    retrying later) are left out. ``of_residents``: the due rows of the residents listed in
    ``pids``, in queue order (``ix_outbox_unfinished``): a resident's earlier row retried
    later sorts after rows queued behind it, and this fetches it into the same claim."""
    earlier, waiting = _OUTBOX.alias("earlier"), _OUTBOX.alias("waiting")
    count = (sa_select(func.count()).select_from(earlier)
             .where(_blocking(earlier, waiting_only=False)).scalar_subquery())
    query = (sa_select(*OUTBOX_COLUMNS, count)
             .where(_OUTBOX.c.status == "pending", _OUTBOX.c.not_before <= bindparam("now"),
                    ~sa_select(waiting.c.id).where(_blocking(waiting, waiting_only=True))
                    .exists()))
    if of_residents:
        query = (query.where(in_list(dialect_name, _OUTBOX.c.participant_id, "pids", Integer))
                 .order_by(_OUTBOX.c.id))
    else:
        query = (query.order_by(_OUTBOX.c.not_before, _OUTBOX.c.id)
                 .limit(bindparam("limit", type_=Integer)))
    if dialect_name == "postgresql":  # concurrent dispatchers take disjoint rows
        query = query.with_for_update(skip_locked=True, of=_OUTBOX)
    return query


_DUE = Statement(_due)
_DUE_OF = Statement(lambda d: _due(d, of_residents=True))
# A claim that outlived its lease (its worker died): back to pending. Rows never handed to the
# provider have no attempted_at and are simply sent; the others are looked up first.
_EXPIRE_LEASES = Statement(
    sa_update(_OUTBOX)
    .where(_OUTBOX.c.status == "claimed", _OUTBOX.c.lease_until < bindparam("now"))
    .values(status="pending", lease_until=None, claimed_by=None)
    .returning(_OUTBOX.c.id, _OUTBOX.c.attempted_at))
_MARK_ATTEMPTED = Statement(lambda d: sa_update(_OUTBOX)
                            .where(in_list(d, _OUTBOX.c.id, "ids", Integer),
                                   _OUTBOX.c.attempted_at.is_(None))
                            .values(attempted_at=bindparam("now")))
_RELEASE = Statement(
    sa_update(_OUTBOX).where(_OUTBOX.c.id == bindparam("oid"), _OUTBOX.c.status == "claimed",
                             _OUTBOX.c.claimed_by == bindparam("worker"))
    .values(status="pending", lease_until=None, claimed_by=None,
            not_before=bindparam("not_before")))
_RECIPIENTS = Statement(lambda d: sa_select(
    _PARTICIPANTS.c.id, _PARTICIPANTS.c.address_enc, _PARTICIPANTS.c.opted_out,
    _PARTICIPANTS.c.timezone).where(in_list(d, _PARTICIPANTS.c.id, "ids", Integer)))
_FINISH = Statement(
    sa_update(_OUTBOX).where(_OUTBOX.c.id == bindparam("oid"))
    .values(status=bindparam("status"), error=bindparam("error"), lease_until=None,
            address_enc=None))
_HOLD = Statement(sa_update(_OUTBOX).where(_OUTBOX.c.id == bindparam("oid"))
                  .values(not_before=bindparam("not_before")))
_MARK_CLAIMED = Statement(lambda d: sa_update(_OUTBOX)
                          .where(in_list(d, _OUTBOX.c.id, "ids", Integer))
                          .values(status="claimed", claimed_by=bindparam("worker"),
                                  lease_until=bindparam("lease_until")))
_CLAIMS = Statement(lambda d: sa_select(
    _OUTBOX.c.id, _OUTBOX.c.status, _OUTBOX.c.claimed_by, _OUTBOX.c.attempts)
    .where(in_list(d, _OUTBOX.c.id, "ids", Integer)))
_MESSAGE_COLUMNS = tuple(c.name for c in _MESSAGES.columns if c.name != "id")
_INSERT_MESSAGE_PLAIN = sa_insert(_MESSAGES).values(
    {name: bindparam(name) for name in _MESSAGE_COLUMNS})
_INSERT_MESSAGE = Statement(_INSERT_MESSAGE_PLAIN.returning(_MESSAGES.c.id))
_INSERT_MESSAGES = Statement(_INSERT_MESSAGE_PLAIN)
# outbound messages by provider id: unique per channel (uq_message_provider)
_SENT_IDS = Statement(lambda d: sa_select(_MESSAGES.c.provider_id, _MESSAGES.c.id).where(
    _MESSAGES.c.channel == bindparam("channel"), _MESSAGES.c.direction == "out",
    in_list(d, _MESSAGES.c.provider_id, "ids")))
# a final outcome: the row is done; an erasure confirmation's own address goes with it
_RECORD_FINAL = Statement(
    sa_update(_OUTBOX).where(_OUTBOX.c.id == bindparam("oid"))
    .values(status=bindparam("status"), attempts=bindparam("attempts"), lease_until=None,
            sent_at=bindparam("sent_at"), error=bindparam("error"),
            provider_id=bindparam("provider_id"), message_id=bindparam("message_id"),
            address_enc=None, attempted_at=None))
_RECORD_RETRY = Statement(
    sa_update(_OUTBOX).where(_OUTBOX.c.id == bindparam("oid"))
    .values(status="pending", attempts=bindparam("attempts"), lease_until=None,
            claimed_by=None, not_before=bindparam("not_before"), error=bindparam("error"),
            attempted_at=bindparam("attempted_at")))


def release_expired_leases(*, tx: Tx, now: datetime) -> list[tuple[int, bool]]:
    """Claims that outlived their lease go back to pending: (outbox id, in doubt) for each."""
    return [(int(row[0]), row[1] is not None) for row in tx.all(_EXPIRE_LEASES, {"now": now})]


def due_rows(*, tx: Tx, now: datetime, limit: int) -> list[OutboxRow]:
    """Pending rows due by ``now`` in queue order (locked, skipping locked ones, on
    PostgreSQL), each with ``earlier``: the resident's rows queued before it that must leave
    first. The earlier due rows of a resident whose row is held back are fetched too, so a
    window full of such rows never starves."""
    rows = [OutboxRow(*row) for row in tx.all(_DUE, {"now": now, "limit": limit})]
    behind = sorted({r.participant_id for r in rows if r.earlier and r.participant_id})
    if behind:
        seen = {r.id for r in rows}
        more = tx.all(_DUE_OF, {"now": now, "pids": list_param(tx, behind)})
        rows += [OutboxRow(*row) for row in more if row[0] not in seen]
    return sorted(rows, key=lambda r: r.id)


def mark_attempted(*, tx: Tx, outbox_ids: Sequence[int], now: datetime) -> None:
    """Stamp rows about to be handed to the provider (kept from an earlier in-doubt try)."""
    tx.send(_MARK_ATTEMPTED, {"ids": list_param(tx, list(outbox_ids)), "now": now})


def release(*, tx: Tx, worker: str, rows: Sequence[tuple[int, datetime]]) -> None:
    """Give claimed rows that were never handed to the provider back: (id, next try)."""
    tx.send_many(_RELEASE, [{"oid": oid, "worker": worker, "not_before": not_before}
                            for oid, not_before in rows])


def known_provider_ids(*, tx: Tx, channel: str, provider_ids: Sequence[str]) -> set[str]:
    """Which of these provider ids are already recorded for an outbound message."""
    if not provider_ids:
        return set()
    rows = tx.all(_SENT_IDS, {"channel": channel, "ids": list_param(tx, list(provider_ids))})
    return {str(row[0]) for row in rows}


def recipients(*, tx: Tx, participant_ids: Iterable[int | None]) -> dict[int, Recipient]:
    wanted = sorted({i for i in participant_ids if i is not None})
    if not wanted:
        return {}
    rows = tx.all(_RECIPIENTS, {"ids": list_param(tx, wanted)})
    return {int(row[0]): Recipient(row[1], bool(row[2]), row[3]) for row in rows}


def finish(*, tx: Tx, outbox_id: int, status: str, error: str) -> None:
    tx.send(_FINISH, {"oid": outbox_id, "status": status, "error": error})


def hold(*, tx: Tx, outbox_id: int, not_before: datetime) -> None:
    tx.send(_HOLD, {"oid": outbox_id, "not_before": not_before})


def mark_claimed(*, tx: Tx, outbox_ids: Sequence[int], worker: str,
                 lease_until: datetime) -> None:
    tx.send(_MARK_CLAIMED, {"ids": list_param(tx, list(outbox_ids)), "worker": worker,
                            "lease_until": lease_until})


def claims(*, tx: Tx, outbox_ids: Sequence[int]) -> dict[int, Claim]:
    if not outbox_ids:
        return {}
    rows = tx.all(_CLAIMS, {"ids": list_param(tx, list(outbox_ids))})
    return {int(row[0]): Claim(row[1], row[2], int(row[3])) for row in rows}


def record(*, tx: Tx, outcomes: Sequence[Outcome]) -> None:
    """Write every outcome: the kept outbound messages first (a sent row links its message),
    then one ``executemany`` for the finished rows and one for the retries."""
    message_ids = _insert_messages(tx, [o for o in outcomes if o.message is not None])
    finals: list[dict[str, Any]] = []
    retries: list[dict[str, Any]] = []
    for outcome in outcomes:
        if outcome.status == "pending":
            retries.append({"oid": outcome.outbox_id, "attempts": outcome.attempts,
                            "not_before": outcome.not_before, "error": outcome.error,
                            "attempted_at": outcome.attempted_at})
            continue
        finals.append({"oid": outcome.outbox_id, "status": outcome.status,
                       "attempts": outcome.attempts, "sent_at": outcome.sent_at,
                       "error": outcome.error, "provider_id": outcome.provider_id,
                       "message_id": message_ids.get(outcome.outbox_id)})
    tx.send_many(_RECORD_FINAL, finals)
    tx.send_many(_RECORD_RETRY, retries)


def _insert_messages(tx: Tx, outcomes: Sequence[Outcome]) -> dict[int, int]:
    """Insert the outcomes' messages; outbox id -> message id for the sent ones. Messages
    with a provider id go in one ``executemany`` and their ids come back in one read per
    channel (the provider id is unique there); the rest, rare, one ``RETURNING`` each."""
    linked: dict[int, int] = {}
    by_provider: dict[tuple[str, str], int] = {}
    plain: list[dict[str, Any]] = []
    for outcome in outcomes:
        message = outcome.message
        assert message is not None
        if outcome.status != "sent":
            plain.append(message)  # a failure's message: nothing links to it
        elif message["provider_id"]:
            by_provider[(message["channel"], message["provider_id"])] = outcome.outbox_id
            plain.append(message)
        else:
            linked[outcome.outbox_id] = int(tx.scalar(_INSERT_MESSAGE, message))
    tx.send_many(_INSERT_MESSAGES, plain)
    for channel in sorted({channel for channel, _ in by_provider}):
        wanted = [pid for ch, pid in by_provider if ch == channel]
        for provider_id, message_id in tx.all(_SENT_IDS, {"channel": channel,
                                                          "ids": list_param(tx, wanted)}):
            linked[by_provider[(channel, provider_id)]] = int(message_id)
    return linked


_RELEASE_WORKER = Statement(
    sa_update(_OUTBOX).where(_OUTBOX.c.status == "claimed",
                             _OUTBOX.c.claimed_by == bindparam("worker"))
    .values(status="pending", lease_until=None, claimed_by=None).returning(_OUTBOX.c.id))


def release_worker(*, tx: Tx, worker: str) -> int:
    """Everything still claimed by ``worker`` back to pending (a clean stop); a row that was
    handed to the provider keeps ``attempted_at`` and is looked up before any resend."""
    return len(tx.all(_RELEASE_WORKER, {"worker": worker}))
