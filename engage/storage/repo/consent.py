"""The consent ledger: every change appended, the participant's cached status kept in step."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import insert as sa_insert

from engage.storage.records import ParticipantFields
from engage.storage.repo._common import (
    _CONSENTS,
    CONSENT_SCOPES,
    CONSENT_STATUSES,
    _require_aware,
    _values,
)
from engage.storage.repo.participants import update_participant
from engage.storage.sql import Statement, Tx

_CONSENT_INSERT = Statement(sa_insert(_CONSENTS).values(_values(_CONSENTS))
                            .returning(_CONSENTS.c.id))


class ConsentEntryRow(NamedTuple):
    """The ledger row ``record_consent`` appended."""

    id: int
    text_version: str


def record_consent(
    *,
    tx: Tx,
    participant: ParticipantFields,
    scope: str,
    status: str,
    text_version: str,
    now: datetime,
    source: str = "flow",
) -> ConsentEntryRow:
    """Append to the consent ledger and update the participant's cached status.

    ``scope`` "all" (opt-out/opt-in/erasure) updates every scope's cached status for
    opt-out, and the ``opted_out`` flag. The ledger row is written with one INSERT (no
    flush). The audit entry is the caller's (``engage.consent.record_consent`` writes both).
    """
    _require_aware(now)
    if status not in CONSENT_STATUSES:
        raise ValueError(f"unknown consent status {status!r}")
    if scope not in (*CONSENT_SCOPES, "all"):
        raise ValueError(f"unknown consent scope {scope!r}")
    version = text_version or "unversioned"
    changes: dict[str, object] = {}
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
        update_participant(tx=tx, participant=participant, **changes)
    entry_id = int(tx.scalar(_CONSENT_INSERT, {
        "participant_id": participant.id, "scope": scope, "status": status,
        "text_version": version, "source": source, "at": now}))
    return ConsentEntryRow(entry_id, version)
