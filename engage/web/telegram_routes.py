"""``POST /webhooks/telegram``: authenticated, processed before the 200, safe to retry.

Telegram sends the secret given to ``setWebhook`` in ``X-Telegram-Bot-Api-Secret-Token``; it
is compared in constant time (401 when missing, 403 when wrong, and every request is refused
while ``TELEGRAM_WEBHOOK_SECRET`` is unset). The update goes through the aiogram Dispatcher
and the runtime *before* the response, so a failure (database locked or down) answers 503 and
Telegram delivers the update again; the runtime dedupes on the update id, so a redelivery
creates nothing new. Replies are not sent from here: they are outbox rows the dispatcher sends.

aiogram is imported on the first authenticated update, not with the app: it takes seconds to
import, and most deployments (and ``engage demo``) never receive one.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from engage.config import Settings
from engage.errors import RetryableError, UserError

if TYPE_CHECKING:  # aiogram takes seconds to import: only once Telegram is really used
    from aiogram import Bot, Dispatcher

log = logging.getLogger("engage.telegram")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/webhooks/telegram"
RETRY_AFTER_SECONDS = "5"
# A Telegram update is a few KB (text is at most 4,096 characters; files come as ids). Reading
# an unbounded body lets one request hold hundreds of MB of memory.
MAX_BODY_BYTES = 256 * 1024

router = APIRouter()


@dataclass
class TelegramWebhook:
    """The app's Bot and aiogram Dispatcher, made on first use inside the server's event loop."""

    bot: Bot
    dispatcher: Dispatcher

    async def close(self) -> None:
        await self.bot.session.close()


def webhook_for(app: FastAPI) -> TelegramWebhook:
    """The app's webhook machinery (one per app; the Bot's HTTP session lives in this loop)."""
    existing: TelegramWebhook | None = getattr(app.state, "telegram_webhook", None)
    if existing is not None:
        return existing
    from engage.channels.telegram import build_bot
    from engage.channels.telegram_updates import build_dispatcher
    from engage.telegram.service import TelegramService

    settings: Settings = app.state.settings
    service = TelegramService.for_runtime(app.state.runtime, settings)
    made = TelegramWebhook(bot=build_bot(settings), dispatcher=build_dispatcher(service))
    app.state.telegram_webhook = made
    return made


def check_secret(settings: Settings, presented: str | None) -> JSONResponse | None:
    """None when the request carries the configured secret, else the refusal to send back."""
    expected = settings.telegram_webhook_secret
    if not expected:
        return _refuse(403, "TELEGRAM_WEBHOOK_SECRET is not set; webhook disabled")
    if presented is None:
        return _refuse(401, f"missing {SECRET_HEADER}")
    if not hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8")):
        return _refuse(403, f"wrong {SECRET_HEADER}")
    return None


@router.post(WEBHOOK_PATH)
async def telegram_webhook(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    metrics = getattr(request.app.state, "metrics", None)
    if not settings.telegram_bot_token:
        return _refuse(404, "Telegram is not configured (TELEGRAM_BOT_TOKEN unset)")
    refusal = check_secret(settings, request.headers.get(SECRET_HEADER))
    if refusal is not None:
        _count(metrics, "engage_webhook_rejected_total", reason=str(refusal.status_code))
        return refusal
    from aiogram.types import Update  # after the checks: a refusal never pays the import

    hook = webhook_for(request.app)
    body = await _read_capped(request)
    if body is None:
        _count(metrics, "engage_webhook_rejected_total", reason="too_large")
        return _refuse(413, f"body over {MAX_BODY_BYTES} bytes is not a Telegram update")
    try:
        payload = json.loads(body)
        update = Update.model_validate(payload, context={"bot": hook.bot})
    except (ValueError, ValidationError, RecursionError):  # RecursionError: nested too deep
        _count(metrics, "engage_webhook_rejected_total", reason="malformed")
        return _refuse(400, "body is not a Telegram update")
    try:
        outcome = await hook.dispatcher.feed_update(hook.bot, update)
    except RetryableError as exc:
        log.warning("telegram update=%s deferred: %s", update.update_id, exc)
        _count(metrics, "engage_inbound_total", outcome="retry")
        return JSONResponse(
            {"ok": False, "error": "temporarily unavailable, retry"},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    except UserError as exc:  # garbled beyond repair: a retry cannot help, so acknowledge
        log.warning("telegram update=%s refused: %s", update.update_id, exc)
        _count(metrics, "engage_inbound_total", outcome="refused")
        return JSONResponse({"ok": True})
    status = getattr(outcome, "status", None)
    _count(metrics, "engage_inbound_total", outcome=str(status or "other"))
    if getattr(outcome, "outbox_ids", None):
        dispatcher = getattr(request.app.state, "dispatcher", None)
        if dispatcher is not None:
            dispatcher.notify()  # replies are waiting: send now, not at the next poll
    return JSONResponse({"ok": True})


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None as soon as it passes ``MAX_BODY_BYTES`` (the rest is not read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _count(metrics: Any, name: str, **labels: str) -> None:
    if metrics is not None:
        metrics.inc(name, channel="telegram", **labels)


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)
