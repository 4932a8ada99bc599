"""outbox.attempted_at (delivery guarantees); autovacuum settings for the busy tables

A claimed row is stamped just before its request goes out and the stamp is cleared when the
outcome is recorded. After a crash, a row without the stamp was never handed to the provider
and simply goes back to pending; a row with it is "in doubt" and is looked up at the provider
before it is sent again (docs/OPERATIONS.md, "Delivery guarantees").

ix_outbox_unfinished (participant_id, id) covers only pending and claimed rows: the claim asks,
for each due row, whether an earlier row of the same resident must leave first, and the
outbox keeps months of finished rows.

On PostgreSQL, outbox and message get autovacuum and analyze thresholds of 2% instead of the
default 20%/10%: every outbox row is updated two or three times within seconds and both tables
are trimmed daily by the retention purge, so dead rows and stale statistics pile up long before
the default thresholds are reached on a large table (docs/OPERATIONS.md, "Disk and vacuum").

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engage.storage.tables

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


BUSY_TABLES = ("outbox", "message")
UNFINISHED = "status IN ('pending', 'claimed')"
VACUUM = ("autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02, "
          "autovacuum_vacuum_insert_scale_factor = 0.05")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempted_at",
                                      engage.storage.tables.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index("ix_outbox_unfinished", ["participant_id", "id"], unique=False,
                              postgresql_where=sa.text(UNFINISHED),
                              sqlite_where=sa.text(UNFINISHED))
    if op.get_bind().dialect.name == "postgresql":
        for table in BUSY_TABLES:
            op.execute(f"ALTER TABLE {table} SET ({VACUUM})")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_unfinished")
    if op.get_bind().dialect.name == "postgresql":
        for table in BUSY_TABLES:
            op.execute(f"ALTER TABLE {table} RESET (autovacuum_vacuum_scale_factor, "
                       "autovacuum_analyze_scale_factor, autovacuum_vacuum_insert_scale_factor)")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("attempted_at")
