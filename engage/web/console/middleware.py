"""Plain-ASGI middleware for the pages people use: the session cookie and security headers.

Only paths under ``/console`` and ``/public`` are touched; webhooks and the API pass straight
through (they have their own authentication and no cookies). The session is read from the
cookie into ``scope["state"]["console_session"]``; a handler replaces it there (login, logout)
and the cookie is written back on every response, which also slides the idle timeout.
"""

from __future__ import annotations

import time
from dataclasses import replace
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engage.web.console.cookies import COOKIE_NAME, ConsoleSession, SessionCodec

PAGE_PREFIXES = ("/console", "/public")
STATIC_PREFIX = "/console/static/"
STATE_KEY = "console_session"

# No inline script or style anywhere (htmx is told not to inject its indicator styles).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def _page_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)


def _cookie(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header is treated as no cookie
                return None
            morsel = jar.get(COOKIE_NAME)
            return morsel.value if morsel else None
    return None


class ConsoleMiddleware:
    """Loads/saves the console session and adds the security headers to every page."""

    def __init__(self, app: ASGIApp, *, codec: SessionCodec, secure: bool) -> None:
        self.app = app
        self.codec = codec
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _page_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        # Static assets need neither a session nor no-store (they are the same for everyone).
        console = scope["path"].startswith("/console") and not scope["path"].startswith(
            STATIC_PREFIX)
        now = time.time()
        state = scope.setdefault("state", {})
        if console:
            session = self.codec.loads(_cookie(scope.get("headers", [])), now)
            state[STATE_KEY] = replace(session, seen=now)

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                headers.append((b"content-security-policy", CSP.encode()))
                if console:
                    headers.append((b"cache-control", b"no-store"))
                    current: ConsoleSession = state[STATE_KEY]
                    headers.append((b"set-cookie", self._set_cookie(current).encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapped)

    def _set_cookie(self, session: ConsoleSession) -> str:
        parts = [f"{COOKIE_NAME}={self.codec.dumps(session)}", "Path=/console", "HttpOnly",
                 "SameSite=Lax", f"Max-Age={int(self.codec.absolute)}"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)
