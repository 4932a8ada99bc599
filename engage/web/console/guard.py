"""Who is asking, and may they: the console's login check, permissions and CSRF check.

Every console page declares its permission with ``Depends(need(Permission.X))``; the role
matrix test reads that declaration from the route table, so a route without one is caught.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from urllib.parse import quote

from fastapi import Request
from sqlmodel import Session
from starlette.datastructures import FormData

from engage.accounts.roles import Permission, can, mediator_name
from engage.config import Settings
from engage.storage.tables.accounts import User
from engage.web.console.cookies import ConsoleSession
from engage.web.console.middleware import STATE_KEY

CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    """Not logged in (or the session timed out): answered with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Forbidden(Exception):
    """Logged in, but this role may not do this (403 page)."""


class NotFound(Exception):
    """No such thing, or not yours to see (404 page; never says which)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class CsrfFailed(Exception):
    """A form arrived without this session's CSRF token (403 page that says to reload)."""


@dataclass(frozen=True)
class Viewer:
    """The logged-in user as pages need them; ``user`` is the accounts table row."""

    user: User = field(repr=False)  # never in logs or tracebacks: it holds the password hash
    session: ConsoleSession = field(repr=False)

    @property
    def id(self) -> int:
        if self.user.id is None:
            raise TypeError("the viewer's user row has no id")
        return self.user.id

    @property
    def role(self) -> str:
        return str(self.user.role)

    @property
    def actor(self) -> str:
        """How audit entries name this user: an id, never the email."""
        return f"user:{self.user.id}"

    @property
    def mediator(self) -> str:
        return mediator_name(self.user)

    def can(self, permission: Permission) -> bool:
        return can(self.user, permission)


def console_session(request: Request) -> ConsoleSession:
    session: ConsoleSession = request.scope["state"][STATE_KEY]
    return session


def set_console_session(request: Request, session: ConsoleSession) -> None:
    request.scope["state"][STATE_KEY] = session


def load_user(request: Request, user_id: int) -> User | None:
    """The user row, or None when it is gone or disabled (the session then ends)."""
    from engage.accounts import service

    with Session(request.app.state.engine) as db:
        user = service.get_user(session=db, user_id=user_id)
        if user is None or user.disabled:
            return None
        db.expunge(user)
        return user


def current_viewer(request: Request) -> Viewer:
    """The logged-in viewer, else ``LoginRequired``."""
    session = console_session(request)
    user = load_user(request, session.user_id) if session.user_id is not None else None
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return Viewer(user=user, session=session)


class need:
    """A dependency that admits viewers holding ``permission`` (None: anyone logged in); the
    route table keeps it, so tests can read every route's rule."""

    def __init__(self, permission: Permission | None) -> None:
        self.permission = permission

    def __call__(self, request: Request) -> Viewer:
        viewer = current_viewer(request)
        if self.permission is not None and not viewer.can(self.permission):
            raise Forbidden(self.permission.value)
        return viewer


async def checked_form(request: Request) -> FormData:
    """The posted form, after checking its CSRF token against the session's."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = console_session(request).csrf
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed()
    return form


def login_url(next_path: str) -> str:
    return "/console/login?next=" + quote(next_path, safe="/")


def safe_next(value: str | None) -> str:
    """Only console paths on this site are followed after login (no open redirect)."""
    if value and value.startswith("/console") and "//" not in value and "\\" not in value:
        return value
    return "/console/"


def secure_cookies(settings: Settings) -> bool:
    return settings.env == "production"
