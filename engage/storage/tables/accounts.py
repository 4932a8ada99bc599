"""Account tables: console and API users, one-time setup links, API tokens.

Nothing secret is stored in clear: passwords as Argon2 hashes, setup links and API tokens as
SHA-256 hashes of high-entropy random strings (only the holder of the raw value can use it),
the TOTP secret encrypted with the same Fernet key as residents' addresses. Table names avoid
``user``, a reserved word in PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text
from sqlmodel import Field, SQLModel

from engage.storage.tables.columns import ts

USER_ROLES = ("admin", "staff", "mediator")


class User(SQLModel, table=True):
    """A staff member, mediator or admin. ``email`` is stored lower-cased (unique)."""

    __tablename__ = "account_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    role: str = Field(max_length=16)  # admin | staff | mediator
    areas_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    password_hash: str | None = Field(default=None, max_length=255)
    disabled: bool = Field(default=False)
    totp_secret_enc: bytes | None = Field(default=None,
                                          sa_column=Column(LargeBinary, nullable=True))
    totp_last_step: int | None = None  # the last 30-second step used: codes cannot be replayed
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = ts(nullable=True)
    created_at: datetime = ts()
    last_login_at: datetime | None = ts(nullable=True)

    @property
    def areas(self) -> list[str]:
        """The areas a mediator is limited to (empty: no limit)."""
        value = json.loads(self.areas_json or "[]")
        return [str(a) for a in value] if isinstance(value, list) else []


class SetupLink(SQLModel, table=True):
    """A one-time link to set a password; only the SHA-256 of its token is stored."""

    __tablename__ = "account_setup_link"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="account_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = ts()
    expires_at: datetime = ts()
    used_at: datetime | None = ts(nullable=True)


class LoginThrottle(SQLModel, table=True):
    """Failed logins for an email that has no account, keyed by an HMAC of the email.

    Unknown emails lock out exactly like real accounts, so the answer to a login attempt
    never tells whether an account exists."""

    __tablename__ = "account_login_throttle"

    id: int | None = Field(default=None, primary_key=True)
    email_key: str = Field(max_length=64, unique=True)
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = ts(nullable=True)
    updated_at: datetime = ts()


class ApiToken(SQLModel, table=True):
    """A bearer token for the API; it acts with its user's role. Only its hash is stored."""

    __tablename__ = "account_api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="account_user.id", index=True)
    name: str = Field(default="", max_length=80)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16, index=True)  # shown in lists: "eng_" and 8 characters
    created_at: datetime = ts()
    expires_at: datetime | None = ts(nullable=True)
    revoked_at: datetime | None = ts(nullable=True)
    last_used_at: datetime | None = ts(nullable=True)
