"""drop two indexes no query needs: ix_response_run_id and ix_outbox_provider_id

Every index is a b-tree page written at each commit that touches its table (about 8 us of CPU
per page on SQLite here). ix_response_run_id duplicated uq_response_run_name (run_id, name),
whose leading column serves every lookup by run. ix_outbox_provider_id was written on every
outbox insert and send and read by nothing: status callbacks find the message by its unique
(channel, direction, provider_id).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.drop_index("ix_response_run_id")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_provider_id")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_provider_id", ["provider_id"], unique=False)
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.create_index("ix_response_run_id", ["run_id"], unique=False)
