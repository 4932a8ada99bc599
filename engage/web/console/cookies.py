"""The console's session: a signed cookie holding who is logged in and the CSRF token.

Why a signed cookie and not a server-side table: web workers stay stateless (any worker can
serve any request) and nothing about a session is stored next to residents' data. The cookie
carries no personal data (a user id, random ids and times), is HttpOnly and SameSite=Lax
(Secure in production), and is signed with a key derived from ENGAGE_SECRET_KEY, so it cannot
be forged or edited. A session ends after ``IDLE`` without a request or ``ABSOLUTE`` after
login, whichever comes first; logging in always starts a new session (new id, new CSRF token),
so a token planted before login is worthless after it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeSerializer

COOKIE_NAME = "engage_console"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
_SALT = "engage.console.session.v1"


@dataclass(frozen=True)
class ConsoleSession:
    """One browser's session. ``user_id`` None = not logged in; ``pending_user_id`` = password
    accepted, second factor (TOTP) still owed."""

    sid: str
    csrf: str
    issued: float
    seen: float
    user_id: int | None = None
    pending_user_id: int | None = None
    expired: bool = False  # the previous session timed out (the login page says so)


def fresh(now: float, *, expired: bool = False) -> ConsoleSession:
    """A new anonymous session with its own id and CSRF token."""
    return ConsoleSession(sid=secrets.token_urlsafe(16), csrf=secrets.token_urlsafe(24),
                          issued=now, seen=now, expired=expired)


def logged_in(user_id: int, now: float) -> ConsoleSession:
    """The session after a successful login: everything rotated."""
    return replace(fresh(now), user_id=user_id)


def cookie_key(secret: bytes) -> bytes:
    """A key for cookies only, so a leaked cookie key says nothing about pseudonyms."""
    return hmac.new(secret, b"engage console cookie", hashlib.sha256).digest()


class SessionCodec:
    """Signs and checks the cookie; enforces the idle and absolute timeouts on read."""

    def __init__(self, secret: bytes, *, idle: timedelta = IDLE,
                 absolute: timedelta = ABSOLUTE) -> None:
        self._serializer = URLSafeSerializer(cookie_key(secret), salt=_SALT)
        self.idle = idle.total_seconds()
        self.absolute = absolute.total_seconds()

    def dumps(self, session: ConsoleSession) -> str:
        return self._serializer.dumps([session.sid, session.csrf, session.issued, session.seen,
                                       session.user_id, session.pending_user_id,
                                       session.expired])

    def loads(self, raw: str | None, now: float) -> ConsoleSession:
        """The session in the cookie, or a fresh one when it is missing, forged or too old."""
        if not raw:
            return fresh(now)
        try:
            sid, csrf, issued, seen, user_id, pending, expired = self._serializer.loads(raw)
            session = ConsoleSession(sid=str(sid), csrf=str(csrf), issued=float(issued),
                                     seen=float(seen), user_id=_int(user_id),
                                     pending_user_id=_int(pending), expired=bool(expired))
        except (BadSignature, ValueError, TypeError):
            return fresh(now)
        if now - session.seen > self.idle or now - session.issued > self.absolute:
            return fresh(now, expired=session.user_id is not None)
        return session


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))
