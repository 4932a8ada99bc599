"""The audit log: append-only and hash-chained, so any edit, insertion or removal shows.

Each entry stores ``prev_hash`` (the previous entry's hash) and ``hash`` = SHA-256 over the
previous hash and the canonical JSON of its own fields. ``verify`` walks the chain in ``seq``
order and names the first entry that does not fit. Appends are serialized (PostgreSQL advisory
transaction lock; SQLite's write lock) so the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from engage.storage.models import AuditEntry
from engage.storage.sql import Statement, Tx, as_tx

GENESIS = "0" * 64
_LOCK_ID = 0x656E67_61756474  # "eng" "audt": one advisory lock for the chain


@dataclass(frozen=True)
class Appended:
    """What ``append`` wrote: enough to cite the entry (its place in the chain and hash)."""

    seq: int
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    first_bad_seq: int | None = None
    reason: str | None = None
    entries: int = 0


def _canonical_details(details: dict[str, Any] | None) -> str:
    return json.dumps(details or {}, sort_keys=True, separators=(",", ":"), default=str)


def compute_hash(
    *, prev_hash: str, seq: int, at: datetime, actor: str, action: str, subject: str | None,
    details: str,
) -> str:
    """The entry hash; ``at`` is normalized to UTC microseconds so every backend agrees."""
    body = json.dumps(
        {
            "seq": seq,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


_TABLE = AuditEntry.__table__  # type: ignore[attr-defined]
_LAST = Statement(sa_select(_TABLE.c.seq, _TABLE.c.hash).order_by(_TABLE.c.seq.desc()).limit(1))
_INSERT = Statement(sa_insert(_TABLE).values(
    {c.name: bindparam(c.name) for c in _TABLE.columns if c.name != "id"}))
_LOCK = Statement(text("SELECT pg_advisory_xact_lock(:k)"))
_HEAD = "engage.audit.head"  # Tx.info: (seq, hash) of the last entry this transaction wrote


def append(
    *,
    session: Session | Tx,
    actor: str,
    action: str,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime,
) -> Appended:
    """Add one entry in the caller's transaction. ``details`` must carry no PII.

    The row is written with one INSERT (no ORM object: this runs inside inbound messages),
    pipelined on PostgreSQL. Appends are serialized until commit (the advisory lock; SQLite's
    write lock), so a transaction that owns its Tx (``transaction()``: a batch of inbound
    messages) knows the chain's head after its first append, and its later appends read
    nothing: one round trip per batch instead of two per consent answer."""
    if now.tzinfo is None:
        raise ValueError("naive datetime rejected: use aware UTC datetimes")
    tx = as_tx(session)
    head = tx.info.get(_HEAD) if tx.owns_transaction else None
    if head is None:
        if tx.is_pg:  # the chain never forks: appends are serialized until commit
            tx.send(_LOCK, {"k": _LOCK_ID})  # the read of the last entry below waits for it
        last = tx.first(_LAST)
        head = (last[0], last[1]) if last else (0, GENESIS)
    seq, prev_hash = head[0] + 1, head[1]
    at = now.astimezone(UTC)
    details_text = _canonical_details(details)
    digest = compute_hash(prev_hash=prev_hash, seq=seq, at=at, actor=actor, action=action,
                          subject=subject, details=details_text)
    tx.send(_INSERT, {
        "seq": seq, "at": at, "actor": actor, "action": action, "subject": subject,
        "details": details_text, "prev_hash": prev_hash, "hash": digest})
    if tx.owns_transaction:
        tx.info[_HEAD] = (seq, digest)
    return Appended(seq=seq, hash=digest)


def verify(session: Session) -> VerifyResult:
    """Walk the chain; the first entry whose link, number or hash is wrong is reported."""
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    stmt = select(AuditEntry).order_by(col(AuditEntry.seq)).execution_options(yield_per=1000)
    rows = session.exec(stmt)
    for entry in rows:
        count += 1
        if entry.seq != expected_seq:
            kind = "removed before it" if entry.seq > expected_seq else "duplicated or reordered"
            reason = f"expected seq {expected_seq} (an entry was {kind})"
            return VerifyResult(False, entry.seq, reason, count)
        if entry.prev_hash != expected_prev:
            return VerifyResult(False, entry.seq, "prev_hash does not match the previous entry "
                                "(an entry was inserted or removed)", count)
        actual = compute_hash(prev_hash=entry.prev_hash, seq=entry.seq, at=entry.at,
                              actor=entry.actor, action=entry.action, subject=entry.subject,
                              details=entry.details)
        if actual != entry.hash:
            return VerifyResult(False, entry.seq, "hash does not match the entry's contents "
                                "(the entry was altered)", count)
        expected_prev = entry.hash
        expected_seq += 1
    return VerifyResult(True, None, None, count)
