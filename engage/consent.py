"""A consent change as the rest of engage records it: the ledger row and its audit entry.

Storage keeps the ledger (``repo.record_consent``) and knows nothing of the audit trail; every
caller that changes consent (the runtime's keyword and flow handlers, a Telegram deep link)
goes through here so the two are always written together, in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from engage import audit
from engage.storage import repo
from engage.storage.records import ParticipantFields
from engage.storage.sql import Tx


def record_consent(
    *,
    tx: Tx,
    participant: ParticipantFields,
    scope: str,
    status: str,
    text_version: str,
    now: datetime,
    source: str = "flow",
    audit_actor: str = "participant",
) -> int:
    """Append to the consent ledger, keep the participant's cached status in step, and audit
    the change; returns the ledger entry's id."""
    entry = repo.record_consent(tx=tx, participant=participant, scope=scope, status=status,
                                text_version=text_version, now=now, source=source)
    audit.append(session=tx, actor=audit_actor, action=f"consent.{status}",
                 subject=f"participant:{participant.id}",
                 details={"scope": scope, "text_version": entry.text_version,
                          "source": source, "entry": entry.id},
                 now=now)
    return entry.id
