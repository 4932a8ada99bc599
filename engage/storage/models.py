"""SQLModel tables: the one schema every module shares.

Conventions (docs/CONTRACT.md, "known traps"): timestamps are aware UTC (``UTCDateTime``); enums are
plain strings validated at the edges; JSON-ish payloads are stored as text and replaced, never
mutated in place. Tables carry participant ids/keys, never addresses in clear.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    LargeBinary,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from engage.scheduling.clock import utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite stores naive; we re-attach UTC on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime rejected: use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect
                             ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def ts(nullable: bool = False, index: bool = False) -> Any:
    """A UTC timestamp column."""
    column: Column[datetime] = Column(UTCDateTime(), nullable=nullable, index=index)
    if nullable:
        return Field(default=None, sa_column=column)
    return Field(default_factory=utcnow, sa_column=column)


# --- participants and consent ------------------------------------------------------------


class Participant(SQLModel, table=True):
    """A resident on one channel. ``key`` = HMAC(secret, normalized address); address encrypted."""

    __tablename__ = "participant"
    __table_args__ = (UniqueConstraint("channel", "key", name="uq_participant_channel_key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, index=True)
    channel: str = Field(max_length=16)
    address_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    language: str = Field(default="en", max_length=8)
    timezone: str | None = Field(default=None, max_length=64)
    area: str | None = Field(default=None, max_length=120, index=True)
    district: str | None = Field(default=None, max_length=60, index=True)
    opted_out: bool = Field(default=False, index=True)
    consent_surveys: str | None = Field(default=None, max_length=16)  # latest ledger status
    consent_dialogue: str | None = Field(default=None, max_length=16)
    consent_quotes: str | None = Field(default=None, max_length=16)
    created_at: datetime = ts()
    erased_at: datetime | None = ts(nullable=True)


class ConsentEntry(SQLModel, table=True):
    """The consent ledger: append-only. Erasure keeps entries but drops the participant link."""

    __tablename__ = "consent_entry"

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int | None = Field(default=None, foreign_key="participant.id", index=True)
    scope: str = Field(max_length=16)  # surveys | dialogue | quotes | all
    status: str = Field(max_length=16)  # granted declined withdrawn opted_out opted_in erased
    text_version: str = Field(max_length=40)
    source: str = Field(default="flow", max_length=40)  # flow | keyword | provider | staff
    at: datetime = ts()


# --- flows and runs ---------------------------------------------------------------------


class FlowVersion(SQLModel, table=True):
    """Every published flow definition, so a run finishes on the version it started on."""

    __tablename__ = "flow_version"
    __table_args__ = (UniqueConstraint("flow_id", "digest", name="uq_flow_version_digest"),)

    id: int | None = Field(default=None, primary_key=True)
    flow_id: str = Field(max_length=80, index=True)
    version: str = Field(max_length=40)
    digest: str = Field(max_length=64)
    definition: str = Field(sa_column=Column(Text, nullable=False))  # JSON of the parsed flow
    published_at: datetime = ts()


class Run(SQLModel, table=True):
    """One participant going through one flow. ``state`` is the engine's JSON state."""

    __tablename__ = "run"
    __table_args__ = (Index("ix_run_participant_status", "participant_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int | None = Field(default=None, foreign_key="participant.id")
    flow_id: str = Field(max_length=80, index=True)
    flow_version_id: int | None = Field(default=None, foreign_key="flow_version.id")
    # waiting | completed | declined | expired | ended (opt-out, superseded)
    status: str = Field(default="waiting", max_length=16, index=True)
    state: str = Field(sa_column=Column(Text, nullable=False))
    campaign_id: int | None = Field(default=None, index=True)
    session_id: int | None = Field(default=None, index=True)
    wake_at: datetime | None = ts(nullable=True, index=True)  # next engine timeout/expiry
    started_at: datetime = ts()
    updated_at: datetime = ts()
    ended_at: datetime | None = ts(nullable=True)


class Response(SQLModel, table=True):
    """One stored answer, under granted consent. No address; free text already scrubbed."""

    __tablename__ = "response"
    __table_args__ = (UniqueConstraint("run_id", "name", name="uq_response_run_name"),)

    id: int | None = Field(default=None, primary_key=True)
    # no index of its own: uq_response_run_name (run_id, name) serves lookups by run
    run_id: int = Field(foreign_key="run.id")
    participant_id: int | None = Field(default=None, foreign_key="participant.id", index=True)
    flow_id: str = Field(max_length=80, index=True)
    name: str = Field(max_length=80)
    question_type: str = Field(max_length=20)
    value: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=80)
    number: float | None = None
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # scrubbed
    sentiment: float | None = None
    sentiment_version: str | None = Field(default=None, max_length=40)
    area: str | None = Field(default=None, max_length=120)
    district: str | None = Field(default=None, max_length=60)
    answered_at: datetime = ts(index=True)


# --- messages and the outbox ------------------------------------------------------------


class Message(SQLModel, table=True):
    """Messages in and out. Inbound rows dedupe on (channel, provider_id). Bodies are purged
    after retention (``body`` set to None, ``purged_at`` set)."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("channel", "direction", "provider_id", name="uq_message_provider"),
    )

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int | None = Field(default=None, foreign_key="participant.id", index=True)
    run_id: int | None = Field(default=None, index=True)
    channel: str = Field(max_length=16)
    direction: str = Field(max_length=3)  # in | out
    provider_id: str | None = Field(default=None, max_length=80)
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str | None = Field(default=None, max_length=16)
    segments: int | None = None
    encoding: str | None = Field(default=None, max_length=8)
    error_code: str | None = Field(default=None, max_length=16)
    created_at: datetime = ts(index=True)
    purged_at: datetime | None = ts(nullable=True)


class Outbox(SQLModel, table=True):
    """Every outbound message is an outbox row first; dispatchers claim, send and mark it.

    ``dedupe_key`` is unique: a scheduler tick or retried inbound can never enqueue twice.
    ``kind``: reply | confirmation | campaign | reminder | invitation | system. Quiet hours
    hold campaign/reminder/invitation rows (``not_before``), never replies.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "not_before"),
        # a resident's unfinished rows, for per-resident order in the claim (outbox_queue):
        # tiny, since rows leave it once sent, and the outbox keeps months of history
        Index("ix_outbox_unfinished", "participant_id", "id",
              postgresql_where=text("status IN ('pending', 'claimed')"),
              sqlite_where=text("status IN ('pending', 'claimed')")),
    )

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int | None = Field(default=None, foreign_key="participant.id", index=True)
    run_id: int | None = Field(default=None)
    channel: str = Field(max_length=16)
    kind: str = Field(default="reply", max_length=16)
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    buttons: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON
    # Only set when the participant's own address is gone (the erasure confirmation): the
    # encrypted address travels with this one row and is dropped once it is finished.
    address_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    dedupe_key: str = Field(max_length=160, unique=True)
    status: str = Field(default="pending", max_length=16)  # pending claimed sent failed cancelled
    not_before: datetime = ts()
    attempts: int = 0
    lease_until: datetime | None = ts(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=80)
    message_id: int | None = Field(default=None)
    # no index: nothing looks an outbox row up by it (status callbacks use message's unique
    # (channel, direction, provider_id)), and it was written twice per message
    provider_id: str | None = Field(default=None, max_length=80)
    error: str | None = Field(default=None, max_length=300)
    created_at: datetime = ts()
    sent_at: datetime | None = ts(nullable=True)
    # When the row was first handed to the provider with its outcome not yet recorded: set
    # just before the request goes out, cleared when the outcome is known. A pending row that
    # still has it is "in doubt" and is looked up at the provider before it is sent again.
    attempted_at: datetime | None = ts(nullable=True)


# --- audit ------------------------------------------------------------------------------


class AuditEntry(SQLModel, table=True):
    """Append-only, hash-chained: ``hash`` = SHA-256(prev_hash + canonical JSON of the row)."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    at: datetime = ts()
    actor: str = Field(max_length=80)
    action: str = Field(max_length=60, index=True)
    subject: str | None = Field(default=None, max_length=120)
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
