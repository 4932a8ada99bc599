"""The append-only audit log (chained with HMAC; see engage/audit.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    Text,
)
from sqlmodel import Field, SQLModel

from engage.storage.tables.columns import ts


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
