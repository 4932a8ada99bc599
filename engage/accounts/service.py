"""Account operations shared by the CLI, the console and the API.

Functions take the caller's ``Session`` (one transaction, like the rest of storage) and an
explicit ``now``. Two take an ``Engine`` because a refusal must still be written: a failed
login's counter and a locked account survive the error raised to the caller.
Every change, login, failed login and token event leaves an audit entry whose only personal
datum is the user id (``user:ID``); emails, passwords and tokens never reach the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from engage import audit
from engage.accounts.errors import (
    AccountError,
    AccountLocked,
    LoginFailed,
    SecondFactorRequired,
    SetupLinkError,
    TokenInvalid,
    UnknownUser,
)
from engage.accounts.passwords import (
    WeakPassword,
    burn_verify_time,
    check_policy,
    hash_password,
    verify_password,
)
from engage.accounts.roles import parse_role
from engage.privacy import decrypt_address, encrypt_address
from engage.storage.db import session_scope
from engage.storage.tables.accounts import ApiToken, LoginThrottle, SetupLink, User

SETUP_LINK_TTL = timedelta(hours=24)
LOCK_AFTER = 5  # failed attempts before the first lock
LOCK_BASE = timedelta(minutes=1)  # doubled with every further failure
LOCK_MAX = timedelta(hours=1)
TOKEN_PREFIX = "eng_"
TOKEN_LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

__all__ = [
    "AccountError", "AccountLocked", "LoginFailed", "SecondFactorRequired", "SetupLinkError",
    "TokenInvalid", "UnknownUser", "WeakPassword",
]


def _sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def user_ref(user: User) -> str:
    """How audit entries name a user: the id, never the email."""
    return f"user:{user.id}"


def _audit(session: Session, actor: str, action: str, user: User | None, now: datetime,
           details: dict[str, object] | None = None) -> None:
    audit.append(session=session, actor=actor, action=action,
                 subject=user_ref(user) if user is not None else None, details=details, now=now)


def normalize_email(email: str) -> str:
    """Lower-cased and trimmed; ``AccountError`` when it cannot be an email address."""
    value = (email or "").strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise AccountError("not an email address (expected name@example.org)")
    return value


# --- users -------------------------------------------------------------------------------


def create_user(*, session: Session, email: str, role: str, areas: Sequence[str] = (),
                now: datetime, actor: str = "cli") -> User:
    """A new account without a password (``issue_setup_link`` lets its owner choose one).

    ``areas`` must already be canonical names (see ``engage.accounts.areas``)."""
    address = normalize_email(email)
    try:
        parsed = parse_role(role)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    if get_user_by_email(session=session, email=address) is not None:
        raise AccountError("an account with this email already exists")
    user = User(email=address, role=parsed.value, areas_json=json.dumps(list(areas)),
                created_at=now)
    session.add(user)
    session.flush()
    _audit(session, actor, "account.user_created", user, now,
           {"role": user.role, "areas": list(areas)})
    return user


def get_user_by_email(*, session: Session, email: str) -> User | None:
    address = (email or "").strip().lower()
    return session.exec(select(User).where(User.email == address)).first()


def get_user(*, session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def require_user(*, session: Session, email: str) -> User:
    """The account for ``email`` or ``UnknownUser`` (for operators, not for logins)."""
    user = get_user_by_email(session=session, email=email)
    if user is None:
        raise UnknownUser("no account with that email (see `engage users list`)")
    return user


def list_users(*, session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.email))))


def disable_user(*, session: Session, user: User, now: datetime, actor: str = "cli") -> User:
    """The account can no longer log in or use its tokens (next request, not next login)."""
    user.disabled = True
    session.add(user)
    _audit(session, actor, "account.user_disabled", user, now)
    return user


def enable_user(*, session: Session, user: User, now: datetime, actor: str = "cli") -> User:
    user.disabled = False
    session.add(user)
    _audit(session, actor, "account.user_enabled", user, now)
    return user


def reset_user(*, session: Session, user: User, now: datetime, actor: str = "cli",
               clear_totp: bool = False) -> str:
    """Clear the password (and the lock, and optionally TOTP); return a new setup link token."""
    user.password_hash = None
    user.failed_logins = 0
    user.locked_until = None
    if clear_totp:
        user.totp_secret_enc = None
        user.totp_last_step = None
    session.add(user)
    _audit(session, actor, "account.user_reset", user, now, {"totp_cleared": clear_totp})
    return issue_setup_link(session=session, user=user, now=now, actor=actor)


# --- setup links -------------------------------------------------------------------------


def issue_setup_link(*, session: Session, user: User, now: datetime, actor: str = "cli") -> str:
    """A one-time token to set a password, valid 24 h; earlier unused links stop working."""
    assert user.id is not None
    session.execute(delete(SetupLink).where(
        col(SetupLink.user_id) == user.id, col(SetupLink.used_at).is_(None)))
    raw = secrets.token_urlsafe(32)
    session.add(SetupLink(user_id=user.id, token_hash=_sha256(raw), created_at=now,
                          expires_at=now + SETUP_LINK_TTL))
    _audit(session, actor, "account.setup_link_issued", user, now)
    return raw


def setup_url(public_url: str, raw: str) -> str:
    """The console page where the link's owner chooses a password."""
    return f"{public_url.rstrip('/')}/console/setup?token={raw}"


def check_setup_link(*, session: Session, raw: str, now: datetime) -> tuple[SetupLink, User]:
    """The link and its user if it can still be used; ``SetupLinkError`` says why not."""
    link = session.exec(select(SetupLink).where(SetupLink.token_hash == _sha256(raw or ""))
                        ).first()
    if link is None:
        raise SetupLinkError("this link is not valid: ask an admin for a new one")
    if link.used_at is not None:
        raise SetupLinkError("this link was already used: ask an admin for a new one")
    if link.expires_at <= now:
        raise SetupLinkError("this link has expired (links last 24 hours): "
                             "ask an admin for a new one")
    user = session.get(User, link.user_id)
    if user is None or user.disabled:
        raise SetupLinkError("this account is disabled: ask an admin")
    return link, user


def redeem_setup_link(*, session: Session, raw: str, password: str, now: datetime) -> User:
    """Set the password chosen through a setup link; the link cannot be used again."""
    link, user = check_setup_link(session=session, raw=raw, now=now)
    check_policy(password, email=user.email)
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    link.used_at = now
    session.add(user)
    session.add(link)
    _audit(session, user_ref(user), "account.password_set", user, now)
    return user


# --- login -------------------------------------------------------------------------------


def lock_duration(failures: int) -> timedelta | None:
    """How long an account stays locked after ``failures`` consecutive failures."""
    if failures < LOCK_AFTER:
        return None
    doublings = min(failures - LOCK_AFTER, 16)  # capped: timedelta would overflow
    return min(LOCK_BASE * (1 << doublings), LOCK_MAX)


def _email_key(secret: bytes, email: str) -> str:
    return hmac.new(secret, b"login:" + email.encode(), hashlib.sha256).hexdigest()


@dataclass
class _Attempts:
    """The lock state of an attempt: a user's row or the throttle row of an unknown email."""

    row: User | LoginThrottle


def _check_lock(state: _Attempts, now: datetime) -> None:
    until = state.row.locked_until
    if until is not None and until > now:
        raise AccountLocked(until)


def _record_failure(session: Session, state: _Attempts, now: datetime) -> None:
    row = state.row
    row.failed_logins += 1
    wait = lock_duration(row.failed_logins)
    row.locked_until = now + wait if wait else None
    session.add(row)
    user = row if isinstance(row, User) else None
    _audit(session, "anonymous", "account.login_failed", user, now,
           {"failures": row.failed_logins, "locked": wait is not None})


def authenticate(engine: Engine, *, secret: bytes, email: str, password: str, now: datetime,
                 totp_code: str | None = None) -> User:
    """The user for a correct email and password (and TOTP code, when the account has one).

    Wrong credentials raise ``LoginFailed`` with one message whether or not the email has an
    account; after ``LOCK_AFTER`` failures both kinds lock with a doubling wait
    (``AccountLocked`` says until when). An account with TOTP and no code given raises
    ``SecondFactorRequired`` (not a failure): ask for the code, then ``complete_second_factor``.
    """
    address = (email or "").strip().lower()
    with session_scope(engine) as session:
        user = get_user_by_email(session=session, email=address)
        if user is not None:
            state = _Attempts(user)
        else:
            key = _email_key(secret, address)
            throttle = session.exec(select(LoginThrottle).where(
                LoginThrottle.email_key == key)).first()
            state = _Attempts(throttle or LoginThrottle(email_key=key, updated_at=now))
        _check_lock(state, now)
        ok = False
        if user is not None and user.password_hash and not user.disabled:
            ok, new_hash = verify_password(user.password_hash, password)
            if ok and new_hash:
                user.password_hash = new_hash
        else:
            burn_verify_time(password)
        if ok and user is not None:
            if user.totp_secret_enc is not None:
                if totp_code is None:
                    raise SecondFactorRequired(user.id or 0)
                ok = _totp_matches(session, user, secret, totp_code, now)
            if ok:
                return _login_succeeded(session, user, now)
        _record_failure(session, state, now)
        failed = LoginFailed("wrong email, password or code")
    raise failed


def complete_second_factor(engine: Engine, *, secret: bytes, user_id: int, code: str,
                           now: datetime) -> User:
    """Finish a login that raised ``SecondFactorRequired``: the TOTP code, with lockout."""
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        if user is None or user.disabled or user.totp_secret_enc is None:
            raise LoginFailed("wrong email, password or code")
        state = _Attempts(user)
        _check_lock(state, now)
        if _totp_matches(session, user, secret, code, now):
            return _login_succeeded(session, user, now)
        _record_failure(session, state, now)
        failed = LoginFailed("wrong email, password or code")
    raise failed


def _login_succeeded(session: Session, user: User, now: datetime) -> User:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.add(user)
    _audit(session, user_ref(user), "account.login", user, now)
    return user


# --- TOTP (RFC 6238, via pyotp) ----------------------------------------------------------


def new_totp_secret() -> str:
    """A random base32 secret to show (as text and QR) before ``enable_totp`` confirms it."""
    return pyotp.random_base32()


def totp_uri(secret_b32: str, user: User, issuer: str) -> str:
    """The otpauth:// URI authenticator apps scan."""
    return pyotp.TOTP(secret_b32).provisioning_uri(name=user.email, issuer_name=issuer)


def _step(now: datetime) -> int:
    return int(now.timestamp()) // 30


def _code_step(secret_b32: str, code: str, now: datetime) -> int | None:
    """The 30-second step (now, one before or one after) whose code is ``code``."""
    cleaned = re.sub(r"\s", "", code or "")
    if not re.fullmatch(r"\d{6}", cleaned):
        return None
    totp = pyotp.TOTP(secret_b32)
    for offset in (0, -1, 1):
        moment = now + timedelta(seconds=30 * offset)
        if hmac.compare_digest(totp.at(moment), cleaned):
            return _step(moment)
    return None


def _totp_matches(session: Session, user: User, secret: bytes, code: str,
                  now: datetime) -> bool:
    """A right code that was not used before (a code cannot be replayed)."""
    assert user.totp_secret_enc is not None
    step = _code_step(decrypt_address(secret, user.totp_secret_enc), code, now)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    session.add(user)
    return True


def enable_totp(*, session: Session, secret: bytes, user: User, secret_b32: str, code: str,
                now: datetime) -> User:
    """Turn on the second factor once the user proves their app shows the right code."""
    step = _code_step(secret_b32, code, now)
    if step is None:
        raise AccountError("that code does not match: check the time on your phone and "
                           "enter the current 6-digit code")
    user.totp_secret_enc = encrypt_address(secret, secret_b32)
    user.totp_last_step = step
    session.add(user)
    _audit(session, user_ref(user), "account.totp_enabled", user, now)
    return user


def totp_required(user: User, env: str) -> bool:
    """Admins must use a second factor in production (the console asks them to set it up)."""
    return user.role == "admin" and env == "production"


def disable_totp(*, session: Session, user: User, now: datetime, actor: str = "cli") -> User:
    user.totp_secret_enc = None
    user.totp_last_step = None
    session.add(user)
    _audit(session, actor, "account.totp_disabled", user, now)
    return user


# --- API tokens --------------------------------------------------------------------------


def parse_expires(value: str | None) -> timedelta | None:
    """``90d``, ``12w``, ``24h`` or ``never`` (None); ``AccountError`` otherwise."""
    if value is None:
        return timedelta(days=90)
    text = value.strip().lower()
    if text == "never":
        return None
    match = re.fullmatch(r"(\d{1,5})\s*([hdw])", text)
    if not match or int(match.group(1)) == 0:
        raise AccountError(f"--expires: not a duration: {value!r} (use e.g. 90d, 12w, 24h "
                           "or never)")
    hours = {"h": 1, "d": 24, "w": 24 * 7}[match.group(2)]
    return timedelta(hours=hours * int(match.group(1)))


def create_token(*, session: Session, user: User, now: datetime, name: str = "",
                 expires_in: timedelta | None = timedelta(days=90),
                 actor: str | None = None) -> tuple[str, ApiToken]:
    """A new bearer token for ``user``: (raw token, shown once; its stored row)."""
    assert user.id is not None
    if user.disabled:
        raise AccountError("this account is disabled")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name.strip()[:80], token_hash=_sha256(raw),
                     prefix=raw[:12], created_at=now,
                     expires_at=now + expires_in if expires_in else None)
    session.add(token)
    session.flush()
    _audit(session, actor or user_ref(user), "account.token_created", user, now,
           {"token_id": token.id, "expires": token.expires_at})
    return raw, token


def verify_token(*, session: Session, raw: str, now: datetime,
                 touch: bool = True) -> tuple[User, ApiToken]:
    """The user and token behind a bearer token; ``TokenInvalid`` for unknown, revoked or
    expired tokens and disabled users (checked on every request: revocation is immediate).
    ``touch``: record the use now (at most once a minute); the API reads without a write
    transaction and calls ``touch_token`` itself when ``token_needs_touch``."""
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == _sha256(raw or ""))
                         ).first()
    if token is None or token.revoked_at is not None:
        raise TokenInvalid("the token is not valid or was revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenInvalid("the token has expired: create a new one")
    user = session.get(User, token.user_id)
    if user is None or user.disabled:
        raise TokenInvalid("the token's account is disabled")
    if touch and token_needs_touch(token, now):
        token.last_used_at = now
        session.add(token)
    return user, token


def token_needs_touch(token: ApiToken, now: datetime) -> bool:
    return token.last_used_at is None or now - token.last_used_at >= TOKEN_LAST_USED_EVERY


def touch_token(*, session: Session, token_id: int, now: datetime) -> None:
    """Record that a token was used (for ``engage tokens list``)."""
    token = session.get(ApiToken, token_id)
    if token is not None:
        token.last_used_at = now
        session.add(token)


def find_token(*, session: Session, token_or_id: str) -> ApiToken:
    """A token by id, by the raw token, or by its display prefix (when unambiguous)."""
    text = (token_or_id or "").strip()
    token: ApiToken | None = None
    if text.isdigit():
        token = session.get(ApiToken, int(text))
    elif text.startswith(TOKEN_PREFIX) and len(text) > 12:
        token = session.exec(select(ApiToken).where(ApiToken.token_hash == _sha256(text))
                             ).first()
    elif text.startswith(TOKEN_PREFIX):
        matches = list(session.exec(select(ApiToken).where(ApiToken.prefix == text)))
        if len(matches) > 1:
            raise AccountError(f"several tokens start with {text}: give the token's id")
        token = matches[0] if matches else None
    if token is None:
        raise AccountError("no such token (give its id from `engage tokens list`, or the "
                           "token itself)")
    return token


def revoke_token(*, session: Session, token: ApiToken, now: datetime,
                 actor: str = "cli") -> ApiToken:
    """The token stops working on the next request."""
    if token.revoked_at is None:
        token.revoked_at = now
        session.add(token)
    user = session.get(User, token.user_id)
    _audit(session, actor, "account.token_revoked", user, now, {"token_id": token.id})
    return token


def list_tokens(*, session: Session, user: User | None = None) -> list[ApiToken]:
    """Tokens (all, or one user's), newest first."""
    stmt = select(ApiToken).order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
    if user is not None:
        stmt = stmt.where(ApiToken.user_id == user.id)
    return list(session.exec(stmt))


def count_admins(*, session: Session) -> int:
    stmt = select(func.count()).select_from(User).where(User.role == "admin",
                                                        col(User.disabled).is_(False))
    return int(session.exec(stmt).one())
