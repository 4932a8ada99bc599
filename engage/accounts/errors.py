"""Errors from account operations. Messages are safe to show: they never say whether an
email has an account, and never repeat a password or token."""

from __future__ import annotations

from datetime import datetime

from engage.errors import UserError


class AccountError(UserError):
    """Base class for account problems the person or operator can act on."""


class UnknownUser(AccountError):
    """No account with that email or id (operators only: logins never say this)."""


class LoginFailed(AccountError):
    """Wrong email, password or second-factor code (one message for all three)."""


class AccountLocked(AccountError):
    """Too many failed attempts; ``until`` is when the next attempt is accepted."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed attempts: locked until "
                         f"{until.strftime('%Y-%m-%d %H:%M:%S UTC')}")
        self.until = until


class SecondFactorRequired(AccountError):
    """The password was right and the account has TOTP: ask for the code next."""

    def __init__(self, user_id: int) -> None:
        super().__init__("enter the 6-digit code from your authenticator app")
        self.user_id = user_id


class SetupLinkError(AccountError):
    """The set-password link is unknown, used or expired."""


class TokenInvalid(AccountError):
    """The API token is unknown, revoked or expired, or its user is disabled."""
