"""outbox.attempted_at: which rows may have reached the provider (delivery guarantees)

A claimed row is stamped just before its request goes out and the stamp is cleared when the
outcome is recorded. After a crash, a row without the stamp was never handed to the provider
and simply goes back to pending; a row with it is "in doubt" and is looked up at the provider
before it is sent again (docs/OPERATIONS.md, "Delivery guarantees").

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-05 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engage.storage.models

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempted_at",
                                      engage.storage.models.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("attempted_at")
