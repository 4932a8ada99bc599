"""Residents and what they said: participants, the consent ledger, runs of a
flow, answers and messages.

Tables carry participant ids and keyed pseudonyms, never addresses in clear.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from engage.storage.tables.columns import ts


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
