"""Is a request (or a bind address) on this machine only?

Development conveniences (``/dev/outbox``, the development Twilio token) and unauthenticated
``/metrics`` are safe only where nobody else can reach them. A request counts as local when its
peer is a loopback address and it carries no proxy forwarding header: a reverse proxy on the
same host forwards the world's requests from 127.0.0.1, and says so in those headers.
"""

from __future__ import annotations

import ipaddress
import socket

from starlette.requests import Request

_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host")


def is_loopback_address(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"; False for anything else (or nothing)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_bind(host: str) -> bool:
    """True when listening on ``host`` reaches only this machine (names are resolved)."""
    if is_loopback_address(host):
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(infos) and all(is_loopback_address(str(info[4][0])) for info in infos)


def is_local_request(request: Request) -> bool:
    """The peer is loopback and no proxy says it forwarded the request from elsewhere."""
    client = request.client
    if client is None or not is_loopback_address(client.host):
        return False
    return not any(name in request.headers for name in _FORWARDING_HEADERS)
