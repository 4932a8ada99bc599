"""Signed checkpoints of the audit chain, kept outside the database.

A checkpoint is the chain's head at one moment, ``(seq, head hash, time)``, signed with
HMAC-SHA256 under a key derived from ENGAGE_SECRET_KEY. The chain alone cannot show that its
last entries (or all of them) were deleted, nor a rewrite by someone holding the key; a
checkpoint can, because it is written where the database's writer cannot reach it:

- a line in ``ENGAGE_DATA_DIR/audit/checkpoints.jsonl`` (owner-only file),
- a comment line in every export's ``.sha256`` manifest (``sha256sum -c`` ignores it),
- a line in the log (``audit.checkpoint``),

every copy the same one line of JSON, so ``engage audit verify --checkpoint FILE`` reads any of
them. Checkpoints are taken by the scheduler leader every few minutes when the chain has grown,
by every export, and by ``engage audit checkpoint``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from engage.audit import GENESIS, checkpoint_key
from engage.config import Settings
from engage.storage.tables import AuditEntry

log = logging.getLogger("engage.audit")

DIRECTORY = "audit"
FILENAME = "checkpoints.jsonl"
MARKER = '{"audit_checkpoint":'  # every copy of a checkpoint starts with this
TAIL_BYTES = 8192


@dataclass(frozen=True)
class Checkpoint:
    """The chain had ``seq`` entries, the last with hash ``head``, at ``at`` (ISO-8601 UTC)."""

    seq: int
    head: str
    at: str
    sig: str

    def line(self) -> str:
        return json.dumps({"audit_checkpoint": 1, "seq": self.seq, "head": self.head,
                           "at": self.at, "sig": self.sig}, separators=(",", ":"))


def _signature(secret: bytes, seq: int, head: str, at: str) -> str:
    message = f"engage-audit-checkpoint-v1:{seq}:{head}:{at}".encode()
    return hmac.new(checkpoint_key(secret), message, hashlib.sha256).hexdigest()


def sign(secret: bytes, *, seq: int, head: str, now: datetime) -> Checkpoint:
    at = now.astimezone(UTC).isoformat(timespec="seconds")
    return Checkpoint(seq, head, at, _signature(secret, seq, head, at))


def chain_head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the last entry, (0, GENESIS) for an empty chain."""
    last = session.exec(select(AuditEntry.seq, AuditEntry.hash)
                        .order_by(col(AuditEntry.seq).desc()).limit(1)).first()
    return (int(last[0]), str(last[1])) if last else (0, GENESIS)


def path_for(settings: Settings) -> Path:
    return settings.data_dir / DIRECTORY / FILENAME


def read(lines: Iterable[str], secret: bytes) -> tuple[list[Checkpoint], int]:
    """The correctly signed checkpoints found in ``lines`` (any copy: the data directory's
    file, a manifest, a log), and how many checkpoint lines carried a wrong signature."""
    found: list[Checkpoint] = []
    forged = 0
    for line in lines:
        start = line.find(MARKER)
        if start < 0:
            continue
        try:
            data, _ = json.JSONDecoder().raw_decode(line[start:])
            checkpoint = Checkpoint(int(data["seq"]), str(data["head"]), str(data["at"]),
                                    str(data["sig"]))
        except (ValueError, KeyError, TypeError):
            forged += 1
            continue
        expected = _signature(secret, checkpoint.seq, checkpoint.head, checkpoint.at)
        if hmac.compare_digest(expected, checkpoint.sig):
            found.append(checkpoint)
        else:
            forged += 1
    return found, forged


def latest(checkpoints: Iterable[Checkpoint]) -> Checkpoint | None:
    """The checkpoint that vouches for the most entries."""
    return max(checkpoints, key=lambda c: (c.seq, c.at), default=None)


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def record(settings: Settings, checkpoint: Checkpoint) -> None:
    """Append ``checkpoint`` to the data directory's file (owner-only) and to the log."""
    target = path_for(settings)
    _private_dir(target.parent)
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(checkpoint.line() + "\n")
    # the line holds hex digits the log's scrubber would take for phone numbers: keep it as is
    log.info("audit.checkpoint %s", checkpoint.line(), extra={"engage_verbatim": True})


def last_recorded(settings: Settings) -> Checkpoint | None:
    """The latest valid checkpoint in the data directory's file (None without one)."""
    target = path_for(settings)
    if not target.exists():
        return None
    with target.open("rb") as handle:  # the newest lines are at the end: read only those
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - TAIL_BYTES))
        tail = handle.read().decode("utf-8", "replace").splitlines()
    return latest(read(tail, settings.secret_bytes())[0])


def take(engine: Engine, settings: Settings, *, now: datetime, force: bool = True) -> Checkpoint:
    """Sign the chain's current head and record it; with ``force=False`` only when the chain
    has grown since the last recorded checkpoint (the leader's periodic tick)."""
    with Session(engine) as session:
        seq, head = chain_head(session)
    if not force:
        previous = last_recorded(settings)
        if previous is not None and (previous.seq, previous.head) == (seq, head):
            return previous
    checkpoint = sign(settings.secret_bytes(), seq=seq, head=head, now=now)
    record(settings, checkpoint)
    return checkpoint


def compare(session: Session, checkpoint: Checkpoint, last_seq: int) -> str | None:
    """What the chain (ending at ``last_seq``) lacks against ``checkpoint``, or None."""
    vouched = f"the checkpoint of {checkpoint.at} vouches for {checkpoint.seq} entries"
    if checkpoint.seq == 0:
        return None
    if last_seq == 0:
        return f"all entries were removed: {vouched}, the audit log is empty"
    if last_seq < checkpoint.seq:
        missing = checkpoint.seq - last_seq
        return (f"the last {missing} entries were removed (seq {last_seq + 1}..{checkpoint.seq}"
                f"): {vouched}, the chain ends at seq {last_seq}")
    stored = session.exec(select(AuditEntry.hash).where(AuditEntry.seq == checkpoint.seq)).first()
    if stored != checkpoint.head:
        return (f"the chain was rewritten: entry seq={checkpoint.seq} is not the head that "
                f"{vouched} (entries up to it were replaced and their hashes recomputed)")
    return None
