"""Published flow versions: every run points at the exact flow it was started on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from engage.storage.tables.columns import ts


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
