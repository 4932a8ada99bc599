"""accounts: users, one-time setup links, login throttle for unknown emails, API tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate renders sqlmodel.sql.sqltypes.AutoString
from alembic import op

import engage.storage.tables  # custom column types such as UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = engage.storage.tables.UTCDateTime


def _str(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "account_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", _str(254), nullable=False),
        sa.Column("role", _str(16), nullable=False),
        sa.Column("areas_json", sa.Text(), nullable=False),
        sa.Column("password_hash", _str(255), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("totp_secret_enc", sa.LargeBinary(), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", _UTC(timezone=True), nullable=True),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("last_login_at", _UTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "account_login_throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_key", _str(64), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", _UTC(timezone=True), nullable=True),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email_key"),
    )
    op.create_table(
        "account_setup_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", _str(64), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("expires_at", _UTC(timezone=True), nullable=False),
        sa.Column("used_at", _UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["account_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("account_setup_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_setup_link_user_id"), ["user_id"],
                              unique=False)
    op.create_table(
        "account_api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", _str(80), nullable=False),
        sa.Column("token_hash", _str(64), nullable=False),
        sa.Column("prefix", _str(16), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("expires_at", _UTC(timezone=True), nullable=True),
        sa.Column("revoked_at", _UTC(timezone=True), nullable=True),
        sa.Column("last_used_at", _UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["account_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("account_api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_api_token_prefix"), ["prefix"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_account_api_token_user_id"), ["user_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account_api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_api_token_user_id"))
        batch_op.drop_index(batch_op.f("ix_account_api_token_prefix"))
    op.drop_table("account_api_token")
    with op.batch_alter_table("account_setup_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_setup_link_user_id"))
    op.drop_table("account_setup_link")
    op.drop_table("account_login_throttle")
    op.drop_table("account_user")
