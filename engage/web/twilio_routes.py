"""Twilio delivery status callbacks, and the development outbox.

Inbound SMS (``/webhooks/twilio/sms``) is served as plain ASGI by ``web.sms_webhook``. Status
callbacks are signed the same way (``web.twilio_signed``: ``ENGAGE_PUBLIC_URL`` + path, 403
when missing or wrong) and only ever move a message's status forward.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session, col
from starlette.concurrency import run_in_threadpool

from engage.channels.sms import SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, STATUS_WEBHOOK_PATH
from engage.clock import utcnow
from engage.errors import RetryableError, UserError
from engage.storage.db import session_scope
from engage.storage.tables import Message, Participant
from engage.web.health import Metrics
from engage.web.loopback import is_local_request
from engage.web.sms_webhook import RETRY_AFTER_SECONDS, read_body
from engage.web.twilio_signed import Refused, verified_params

log = logging.getLogger("engage.web.twilio")

router = APIRouter()

# A status only moves forward; the terminal ones share a rank, so the first one wins.
STATUS_RANK = {
    "accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
    "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "read": 5,
}
OPTED_OUT_ERROR = "21610"


def _refuse(metrics: Metrics, refused: Refused) -> Response:
    metrics.inc("engage_webhook_rejected_total", channel="sms", reason=refused.reason)
    return Response(HTTPStatus(refused.status).phrase, status_code=refused.status,
                    media_type="text/plain")


def _busy() -> Response:
    return Response("Service Unavailable", status_code=503, media_type="text/plain",
                    headers={"Retry-After": RETRY_AFTER_SECONDS})


def _advance_status(engine: sa.Engine, sid: str, status: str,
                    error_code: str | None) -> tuple[bool, int | None]:
    """Move the outbound message's status forward (never back); returns (changed, participant)."""
    lower = [name for name, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
    with session_scope(engine) as session:
        result = session.execute(
            sa.update(Message)
            .where(col(Message.provider_id) == sid, col(Message.direction) == "out",
                   col(Message.channel) == "sms",
                   sa.or_(col(Message.status).is_(None), col(Message.status).in_(lower)))
            .values(status=status, error_code=error_code)
        )
        changed = bool(getattr(result, "rowcount", 0))
        participant_id = session.execute(
            sa.select(col(Message.participant_id)).where(
                col(Message.provider_id) == sid, col(Message.direction) == "out")
        ).scalar()
    return changed, participant_id


@router.post(STATUS_WEBHOOK_PATH)
async def status_callback(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    try:
        params = verified_params(
            request.app.state.settings, path=request.url.path,
            query=request.scope.get("query_string", b"").decode("latin-1"),
            signature=request.headers.get(SIGNATURE_HEADER),
            signature_settings=request.headers.get(SIGNATURE_SETTINGS_HEADER),
            body=await read_body(request.receive))
    except Refused as refused:
        return _refuse(metrics, refused)
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or status not in STATUS_RANK:
        metrics.inc("engage_status_callbacks_total", status=status or "none", effect="ignored")
        return Response(status_code=204)
    error_code = params.get("ErrorCode") or None
    try:
        changed, participant_id = await run_in_threadpool(
            _advance_status, request.app.state.engine, sid, status, error_code)
        if error_code == OPTED_OUT_ERROR and participant_id is not None:
            runtime = request.app.state.runtime
            await run_in_threadpool(lambda: runtime.record_provider_opt_out(
                participant_id=participant_id, source="twilio_21610", now=utcnow()))
    except RetryableError:
        return _busy()
    metrics.inc("engage_status_callbacks_total", status=status,
                effect="applied" if changed else "stale")
    return Response(status_code=204)


# -- the development outbox (only when Twilio is not configured, never in production) --------

dev_router = APIRouter()


def _dev_participant(request: Request, session: Session, to: str) -> Participant | None:
    from sqlmodel import select

    from engage.privacy import normalize_address, participant_key

    settings = request.app.state.settings
    key = participant_key(settings.secret_bytes(), "sms", normalize_address("sms", to))
    return session.exec(
        select(Participant).where(Participant.channel == "sms", Participant.key == key)
    ).first()


def _dev_messages(request: Request, to: str, after: int,
                  reply_to: str | None = None) -> list[dict[str, Any]]:
    from sqlalchemy import or_
    from sqlmodel import select

    from engage.storage.tables import Outbox

    with session_scope(request.app.state.engine) as session:
        participant = _dev_participant(request, session, to)
        mine: list[sa.ColumnElement[bool]] = (
            [col(Outbox.participant_id) == participant.id] if participant is not None else []
        )
        if reply_to:  # the reply to this message, even when the number was erased by it
            # (an erasing DELETE's reply is keyed by a digest of its id, never the id itself)
            from engage.privacy import erased_provider_id

            erased = erased_provider_id(request.app.state.settings.secret_bytes(), "sms",
                                        reply_to)
            for sid in (reply_to, erased):
                escaped = sid.replace("\\", "").replace("%", "").replace("_", "\\_")
                mine.append(col(Outbox.dedupe_key).like(f"in:sms:{escaped}:%", escape="\\"))
        if not mine:
            return []
        rows = session.exec(
            select(Outbox)
            .where(or_(*mine), Outbox.status == "sent", col(Outbox.id) > after)
            .order_by(col(Outbox.id))
            .limit(100)
        )
        return [{"id": r.id, "kind": r.kind, "text": r.body or "",
                 "sent_at": r.sent_at.isoformat() if r.sent_at else None} for r in rows]


def _dev_resident(request: Request, to: str) -> dict[str, str]:
    with session_scope(request.app.state.engine) as session:
        participant = _dev_participant(request, session, to)
        if participant is None:
            return {"status": "unknown"}
        return {"status": "opted_out" if participant.opted_out else "subscribed"}


def _not_found() -> Response:
    return Response("Not Found", status_code=404, media_type="text/plain")


@dev_router.get("/dev/resident")
async def dev_resident(request: Request, to: str) -> Any:
    """Whether ``to`` is unknown, subscribed or opted out (engage chat explains silence).
    Served to local requests only, like every /dev route."""
    if not is_local_request(request):
        return _not_found()
    try:
        return await run_in_threadpool(_dev_resident, request, to)
    except UserError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain")
    except RetryableError:
        return _busy()


@dev_router.get("/dev/outbox")
async def dev_outbox(request: Request, to: str, after: int = 0,
                     reply_to: str | None = None) -> Any:
    """What the development outbox "sent" to ``to`` after outbox id ``after``, and the reply
    to message ``reply_to`` (engage chat: DELETE's confirmation goes to an erased number).
    Served to local requests only: it shows any number's messages."""
    if not is_local_request(request):
        return _not_found()
    try:
        return await run_in_threadpool(_dev_messages, request, to, after, reply_to)
    except UserError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain")
    except RetryableError:
        return _busy()
