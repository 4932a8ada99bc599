"""Deliberation tables: conversations, statements, members (voters) and their votes.

A member is one voter in one conversation: a resident (``participant_id`` set) or a voter
imported from Polis (``source_id`` = the Polis voter-id, no participant). Residents are known
in outputs only by ``source_id`` ("m" + member id), never by phone number or chat id. Votes
keep their history (the latest per statement counts); erasure deletes a resident's members
and votes with them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from engage.storage.tables.columns import ts

STATUSES = ("pending", "approved", "rejected")


class DelibConversation(SQLModel, table=True):
    """A topic residents vote on, in one area, in one or two languages, between two dates."""

    __tablename__ = "delib_conversation"

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=300)
    area: str | None = Field(default=None, max_length=120)
    languages: str = Field(default="en", max_length=16)  # "en", "es" or "en,es"
    opens_at: datetime | None = ts(nullable=True)
    closes_at: datetime | None = ts(nullable=True)
    dialogue_session_id: int | None = Field(default=None, index=True)
    source: str = Field(default="engage", max_length=16)  # engage | polis
    daily_cap: int = Field(default=5)
    created_at: datetime = ts()


class DelibStatement(SQLModel, table=True):
    """A statement: seed (staff/mediator), a resident's own (scrubbed), or imported."""

    __tablename__ = "delib_statement"
    __table_args__ = (Index("ix_delib_statement_conv_status", "conversation_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="delib_conversation.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    language: str = Field(default="en", max_length=8)
    translation: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    source_id: str | None = Field(default=None, max_length=80)  # Polis comment-id
    author_kind: str = Field(default="staff", max_length=16)  # staff | resident | polis
    author_member_id: int | None = Field(default=None)
    status: str = Field(default="pending", max_length=16)
    reason: str | None = Field(default=None, max_length=300)
    moderated_by: str | None = Field(default=None, max_length=80)
    moderated_at: datetime | None = ts(nullable=True)
    author_told: bool = Field(default=False)
    votes: int = Field(default=0)  # votes cast on it (re-votes too): picks the next statement
    created_at: datetime = ts()


class DelibMember(SQLModel, table=True):
    """One voter in one conversation, with the resident's pacing (cap, pause, what is shown)."""

    __tablename__ = "delib_member"
    __table_args__ = (
        UniqueConstraint("conversation_id", "source_id", name="uq_delib_member_source"),
        Index("ix_delib_member_participant", "participant_id", "conversation_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="delib_conversation.id")
    source_id: str = Field(max_length=80)
    participant_id: int | None = Field(default=None, foreign_key="participant.id")
    showing_statement_id: int | None = Field(default=None)  # awaiting the resident's reply
    shown: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    paused: bool = Field(default=False)
    day: str | None = Field(default=None, max_length=10)  # local date of sent_today
    sent_today: int = Field(default=0)
    invited_at: datetime | None = ts(nullable=True)
    created_at: datetime = ts()


class DelibVote(SQLModel, table=True):
    """One vote as cast: +1 agree, -1 disagree, 0 unsure. The latest per statement counts."""

    __tablename__ = "delib_vote"
    __table_args__ = (
        Index("ix_delib_vote_conv", "conversation_id"),
        Index("ix_delib_vote_member", "member_id", "statement_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="delib_conversation.id")
    statement_id: int = Field(foreign_key="delib_statement.id")
    member_id: int = Field(foreign_key="delib_member.id")
    value: int
    cast_at: datetime = ts()
