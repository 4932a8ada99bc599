"""The consent ledger: every change appended, the participant's cached status kept in step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert as sa_insert

from engage.storage.repo._common import (
    _CONSENTS,
    CONSENT_SCOPES,
    CONSENT_STATUSES,
    Store,
    _require_aware,
    _values,
)
from engage.storage.repo.participants import update_participant
from engage.storage.sql import Statement, as_tx

_CONSENT_INSERT = Statement(sa_insert(_CONSENTS).values(_values(_CONSENTS))
                            .returning(_CONSENTS.c.id))


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
