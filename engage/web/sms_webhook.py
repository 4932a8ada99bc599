"""``POST /webhooks/twilio/sms`` as a plain ASGI handler, in front of FastAPI's routing.

Why not a FastAPI route: every SMS a resident sends arrives here, and FastAPI's routing,
middleware layers and form parser cost more CPU per request than the whole handler below
(bench/sms.py: 338 us of server CPU per request for a bare FastAPI form endpoint against
120 us for the same parse as plain ASGI). ``EngageApp`` hands this path straight to
``handle``; every other route is FastAPI's as usual.

What it does is what the route did: the Twilio signature is checked against
``ENGAGE_PUBLIC_URL`` + path (403 when missing or wrong), the message is handed to the
runtime *before* answering (a database that is down or locked answers 503 with Retry-After,
so Twilio delivers again; the runtime dedupes on MessageSid), and the answer is an empty
TwiML ``<Response/>``: replies are outbox rows the dispatcher sends and tracks. Anything that
escapes is logged and answered 500 (Twilio retries), never a 200 for a message not stored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import State
from starlette.requests import ClientDisconnect

from engage.channels.base import Inbound
from engage.channels.sms import (
    EMPTY_TWIML,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    MalformedWebhook,
    parse_inbound,
)
from engage.clock import utcnow
from engage.errors import RetryableError, UserError
from engage.web.health import Metrics
from engage.web.twilio_signed import Refused, verified_params

log = logging.getLogger("engage.web.twilio")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024  # Twilio's inbound form is about 1 KB (a 1,600-character body)
RETRY_AFTER_SECONDS = "5"
_SIGNATURE = SIGNATURE_HEADER.lower().encode("latin-1")
_SIGNATURE_SETTINGS = SIGNATURE_SETTINGS_HEADER.lower().encode("latin-1")
_TWIML = EMPTY_TWIML.encode()


async def read_body(receive: Receive) -> bytes:
    """The request body, refused (413, ``too_large``) as soon as it passes
    ``MAX_BODY_BYTES``, before the rest is read. ``ClientDisconnect`` when the client goes
    away before it arrives (there is nobody to answer)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Refused(413, "too_large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes,
                   *extra: tuple[bytes, bytes]) -> None:
    headers = [(b"content-type", content_type),
               (b"content-length", str(len(body)).encode("latin-1")), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _text(status: int) -> bytes:
    return {403: b"Forbidden", 405: b"Method Not Allowed", 413: b"Content Too Large",
            500: b"Internal Server Error",
            503: b"Service Unavailable"}.get(status, b"Bad Request")


async def _refuse(send: Send, metrics: Metrics, refused: Refused) -> None:
    metrics.inc("engage_webhook_rejected_total", channel="sms", reason=refused.reason)
    await _respond(send, refused.status, _text(refused.status), b"text/plain; charset=utf-8")


def _headers(scope: Scope) -> tuple[str | None, str | None]:
    signature = settings = None
    for name, value in scope["headers"]:
        if name == _SIGNATURE:
            signature = value.decode("latin-1")
        elif name == _SIGNATURE_SETTINGS:
            settings = value.decode("latin-1")
    return signature, settings


def _path(scope: Scope) -> str:
    """The request's full path, root path included (as ``request.url.path``): the signed URL
    is the public base + this."""
    return str(scope["path"])


async def handle(state: State, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one request to the inbound SMS webhook (``state`` is the app's ``app.state``)."""
    metrics: Metrics = state.metrics
    if scope["method"] != "POST":
        await _respond(send, 405, _text(405), b"text/plain; charset=utf-8", (b"allow", b"POST"))
        return
    try:
        await _serve(state, metrics, scope, receive, send)
    except ClientDisconnect:
        return
    except Exception:  # as ServerErrorMiddleware would: logged, 500, Twilio retries
        log.exception("inbound sms webhook failed")
        await _respond(send, 500, _text(500), b"text/plain; charset=utf-8")


async def _serve(state: State, metrics: Metrics, scope: Scope, receive: Receive,
                 send: Send) -> None:
    try:
        body = await read_body(receive)
        signature, signature_settings = _headers(scope)
        params = verified_params(state.settings, path=_path(scope),
                                 query=scope.get("query_string", b"").decode("latin-1"),
                                 signature=signature, signature_settings=signature_settings,
                                 body=body)
        inbound = parse_inbound(params, received_at=utcnow())
    except Refused as refused:
        await _refuse(send, metrics, refused)
        return
    except MalformedWebhook:
        await _refuse(send, metrics, Refused(400, "malformed"))
        return
    try:
        outcome = await _hand_over(state.runtime, inbound)
    except RetryableError as exc:
        log.warning("inbound sms deferred (Twilio will retry): %s", exc)
        metrics.inc("engage_inbound_total", channel="sms", outcome="retry")
        await _respond(send, 503, _text(503), b"text/plain; charset=utf-8",
                       (b"retry-after", RETRY_AFTER_SECONDS.encode()))
        return
    except UserError as exc:  # e.g. a sender that is not a phone number: retrying cannot help
        log.warning("inbound sms refused: %s", exc)
        metrics.inc("engage_inbound_total", channel="sms", outcome="refused")
    else:
        metrics.inc("engage_inbound_total", channel="sms", outcome=str(outcome.status))
        if outcome.outbox_ids:
            dispatcher = getattr(state, "dispatcher", None)
            if dispatcher is not None:
                dispatcher.notify()
    await _respond(send, 200, _TWIML, b"application/xml")


async def _hand_over(runtime: Any, inbound: Inbound) -> Any:
    """The runtime's async entry when it has one (no thread per request), else a thread."""
    handle_async = getattr(runtime, "handle_inbound_async", None)
    if handle_async is not None:
        return await handle_async(inbound)
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(runtime.handle_inbound, inbound)
