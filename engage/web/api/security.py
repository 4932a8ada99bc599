"""Who is calling, what they may do, and how often.

Every route declares its permissions once, in ``openapi_extra["x-permissions"]`` (any one of
them suffices; an empty list means public). ``caller`` reads that declaration at request time,
so the check, the OpenAPI document and the role-matrix test share one source. A bearer token
is looked up by its SHA-256 on every request (revocation takes effect on the next one); it is
never logged, echoed or stored. Requests are rate-limited per token (per client address when
anonymous) with a token bucket: past the limit, 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engage.accounts import service
from engage.accounts.errors import TokenInvalid
from engage.accounts.roles import Permission, can
from engage.clock import utcnow
from engage.storage.db import new_session, read_only, session_scope
from engage.storage.tables.accounts import User
from engage.web.api.problems import ApiProblem

PERMISSIONS_KEY = "x-permissions"
bearer = HTTPBearer(auto_error=False, description="An API token from `engage tokens create`")


def permissions(*needed: Permission) -> dict[str, Any]:
    """``openapi_extra`` for a route: any one of ``needed`` lets a caller in (none: public)."""
    return {PERMISSIONS_KEY: [p.value for p in needed]}


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute, bursts up to the same."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, now: float | None = None) -> int | None:
        """None when the request may go ahead, else whole seconds until it may."""
        moment = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.per_minute), moment))
            tokens = min(float(self.per_minute), tokens + (moment - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, moment)
                return None
            self._buckets[key] = (tokens, moment)
            return max(1, math.ceil((1.0 - tokens) / rate))


@dataclass(frozen=True)
class Caller:
    """The authenticated user behind a request (None on public routes)."""

    user: User | None
    token_id: int | None

    @property
    def actor(self) -> str:
        """How audit entries name the caller: ``user:ID``, never the email or token."""
        return service.user_ref(self.user) if self.user is not None else "anonymous"


def clock_now(request: Request) -> datetime:
    """The runtime's clock (injected in tests), aware UTC."""
    clock = getattr(request.app.state.runtime, "clock", None)
    return clock() if callable(clock) else utcnow()


def declared_permissions(request: Request) -> list[Permission]:
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    return [Permission(p) for p in extra.get(PERMISSIONS_KEY, [])]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def anonymous_caller(request: Request) -> Caller:
    """Public routes: no token, rate-limited per client address."""
    _limit(request, f"ip:{_client(request)}")
    return Caller(None, None)


def _limit(request: Request, key: str) -> None:
    limiter: RateLimiter = request.app.state.api_limiter
    wait = limiter.retry_after(key)
    if wait is not None:
        raise ApiProblem(429, f"rate limit of {limiter.per_minute} requests a minute reached: "
                         f"retry in {wait} s", kind="rate-limited",
                         headers={"Retry-After": str(wait)})


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, kind="unauthorized",
                      headers={"WWW-Authenticate": 'Bearer realm="engage"'})


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """Authenticate, authorize against the route's declared permissions, rate-limit."""
    needed = declared_permissions(request)
    if not needed:  # a route that declares nothing is closed, never open by mistake
        raise ApiProblem(403, "this route declares no permission", kind="forbidden")
    if credentials is None or not credentials.credentials:
        raise _unauthorized("this route needs an API token: send Authorization: Bearer TOKEN")
    state = request.app.state
    now = clock_now(request)
    try:
        with new_session(read_only(state.engine)) as session:
            user, token = service.verify_token(session=session, raw=credentials.credentials,
                                               now=now, touch=False)
    except TokenInvalid as exc:
        _limit(request, f"ip:{_client(request)}")  # guessing tokens is throttled too
        raise _unauthorized(str(exc)) from None
    assert token.id is not None
    _limit(request, f"token:{token.id}")
    if service.token_needs_touch(token, now):
        with session_scope(state.engine) as session:
            service.touch_token(session=session, token_id=token.id, now=now)
    if not any(can(user, p) for p in needed):
        raise ApiProblem(403, f"your role ({user.role}) may not do this: it needs "
                         + " or ".join(p.value for p in needed), kind="forbidden")
    return Caller(user, token.id)


CallerDep = Annotated[Caller, Depends(caller)]
AnonymousDep = Annotated[Caller, Depends(anonymous_caller)]
