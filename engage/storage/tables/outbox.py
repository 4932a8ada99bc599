"""The outbox: every outbound message is a row first (docs/OPERATIONS.md, "Delivery guarantees").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    Index,
    LargeBinary,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from engage.storage.tables.columns import ts


class Outbox(SQLModel, table=True):
    """Every outbound message is an outbox row first; dispatchers claim, send and mark it.

    ``dedupe_key`` is unique: a scheduler tick or retried inbound can never enqueue twice.
    ``kind``: reply | confirmation | campaign | reminder | invitation | system. Quiet hours
    hold campaign/reminder/invitation rows (``not_before``), never replies.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "not_before"),
        # a resident's unfinished rows, for per-resident order in the claim
        # (engage/outbox/queue.py):
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
