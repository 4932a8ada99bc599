"""The audit log: append-only and keyed hash-chained, so any edit, insertion or removal shows.

Each entry stores ``prev_hash`` (the previous entry's hash) and ``hash`` = HMAC-SHA256 over
the previous hash and the canonical JSON of its own fields, keyed with a key derived from
ENGAGE_SECRET_KEY (HKDF, its own purpose label): someone who can write the database but does
not hold the secret cannot recompute the chain after a rewrite. ``verify`` walks the chain in
``seq`` order and names the first entry that does not fit; removal at the *end* (or of every
entry) leaves a shorter chain that is still consistent, so it is caught by comparing against
signed checkpoints kept outside the database (``engage.audit_checkpoints``).

Chains written before keying (plain SHA-256) stay verifiable: ``seal_legacy`` appends one
keyed ``audit.chain_keyed`` entry that links to the old head and states how many entries came
before it; after that, an unkeyed entry anywhere is an alteration. Appends are serialized
(PostgreSQL advisory transaction lock; SQLite's write lock) so the chain never forks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import bindparam, text
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from engage.storage.sql import Statement, Tx, as_tx
from engage.storage.tables import AuditEntry

GENESIS = "0" * 64
SEALED_ACTION = "audit.chain_keyed"  # the first keyed entry after a legacy (unkeyed) chain
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
    legacy: int = 0  # entries from before keying (plain SHA-256), sealed by a keyed entry
    head: tuple[int, str] | None = None  # (seq, hash) of the last entry walked


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"engage-audit",
                info=purpose).derive(secret)


@lru_cache(maxsize=8)
def chain_key(secret: bytes) -> bytes:
    """The key entries are HMAC'd with (independent of every other use of the secret)."""
    return _derive(secret, b"audit-chain-v1")


@lru_cache(maxsize=8)
def checkpoint_key(secret: bytes) -> bytes:
    """The key checkpoints are signed with."""
    return _derive(secret, b"audit-checkpoint-v1")


def current_key() -> bytes:
    """The chain key of the process-wide settings' secret (derived once per secret; the
    secret is read each time, as a development key file may be another one by now)."""
    from engage.config import get_settings

    return chain_key(get_settings().secret_bytes())


def _canonical_details(details: dict[str, Any] | None) -> str:
    return json.dumps(details or {}, sort_keys=True, separators=(",", ":"), default=str)


def compute_hash(
    *, prev_hash: str, seq: int, at: datetime, actor: str, action: str, subject: str | None,
    details: str, key: bytes | None = None,
) -> str:
    """The entry hash: HMAC-SHA256 with ``key`` (the chain key), or plain SHA-256 without one
    (entries written before keying). ``at`` is normalized to UTC microseconds so every backend
    agrees."""
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
    if key is None:
        return hashlib.sha256((prev_hash + body).encode()).hexdigest()
    return hmac.new(key, (prev_hash + body).encode(), hashlib.sha256).hexdigest()


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
    key: bytes | None = None,
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
                          subject=subject, details=details_text, key=key or current_key())
    tx.send(_INSERT, {
        "seq": seq, "at": at, "actor": actor, "action": action, "subject": subject,
        "details": details_text, "prev_hash": prev_hash, "hash": digest})
    if tx.owns_transaction:
        tx.info[_HEAD] = (seq, digest)
    return Appended(seq=seq, hash=digest)


def verify(session: Session, *, key: bytes | None = None) -> VerifyResult:
    """Walk the chain; the first entry whose link, number or keyed hash is wrong is reported.

    Unkeyed (legacy) entries are accepted only as a prefix that a keyed ``audit.chain_keyed``
    entry seals, stating their number; anywhere else an unkeyed hash is an alteration."""
    key = key or current_key()
    expected_prev, expected_seq, count, legacy = GENESIS, 1, 0, 0
    keyed_seen = False
    head: tuple[int, str] | None = None
    stmt = select(AuditEntry).order_by(col(AuditEntry.seq)).execution_options(yield_per=1000)
    for entry in session.exec(stmt):
        count += 1
        if entry.seq != expected_seq:
            kind = "removed before it" if entry.seq > expected_seq else "duplicated or reordered"
            reason = f"expected seq {expected_seq} (an entry was {kind})"
            return VerifyResult(False, entry.seq, reason, count, legacy, head)
        if entry.prev_hash != expected_prev:
            return VerifyResult(False, entry.seq, "prev_hash does not match the previous entry "
                                "(an entry was inserted or removed)", count, legacy, head)
        if hmac.compare_digest(entry_hash(entry, key), entry.hash):
            if not keyed_seen and legacy and not _seals(entry, legacy):
                return VerifyResult(False, entry.seq, f"{legacy} unkeyed entries are not sealed "
                                    f"by an {SEALED_ACTION} entry stating their number",
                                    count, legacy, head)
            keyed_seen = True
        elif not keyed_seen and entry_hash(entry, None) == entry.hash:
            legacy += 1
        else:
            return VerifyResult(False, entry.seq, "hash does not match the entry's contents "
                                "(the entry was altered, or rewritten without the key)",
                                count, legacy, head)
        expected_prev = entry.hash
        expected_seq += 1
        head = (entry.seq, entry.hash)
    if legacy and not keyed_seen:
        return VerifyResult(False, None, f"all {legacy} entries are unkeyed and unsealed: run "
                            "`engage audit seal` (or `engage db upgrade`) with the production "
                            "ENGAGE_SECRET_KEY", count, legacy, head)
    return VerifyResult(True, None, None, count, legacy, head)


def entry_hash(entry: AuditEntry, key: bytes | None) -> str:
    """What ``entry.hash`` should be (keyed with ``key``; None: the legacy unkeyed hash)."""
    return compute_hash(prev_hash=entry.prev_hash, seq=entry.seq, at=entry.at,
                        actor=entry.actor, action=entry.action, subject=entry.subject,
                        details=entry.details, key=key)


def _seals(entry: AuditEntry, legacy: int) -> bool:
    if entry.action != SEALED_ACTION:
        return False
    try:
        return int(json.loads(entry.details).get("legacy_entries", -1)) == legacy
    except (ValueError, AttributeError, TypeError):
        return False


def seal_legacy(session: Session, *, now: datetime, key: bytes | None = None) -> int:
    """Seal a chain written before keying: when the last entry verifies only unkeyed, append
    one keyed ``audit.chain_keyed`` entry over it. Returns how many entries it sealed (0 when
    the chain is empty or already keyed). Idempotent; the caller commits."""
    key = key or current_key()
    last = session.exec(select(AuditEntry).order_by(col(AuditEntry.seq).desc()).limit(1)).first()
    if last is None:
        return 0
    if hmac.compare_digest(entry_hash(last, key), last.hash):
        return 0
    if entry_hash(last, None) != last.hash:
        raise ValueError(f"audit entry seq={last.seq} matches neither the keyed nor the legacy "
                         "hash: run `engage audit verify` (wrong ENGAGE_SECRET_KEY?)")
    append(session=session, actor="system", action=SEALED_ACTION, subject=None,
           details={"legacy_entries": last.seq}, now=now, key=key)
    return last.seq
