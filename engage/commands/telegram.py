"""``engage telegram ...``: register the webhook, long-poll for development, make deep links."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engage.commands.common import console, fail
from engage.config import Settings, get_settings

# aiogram takes seconds to import: it is loaded inside the commands that use it, so every
# other `engage` command starts fast.
if TYPE_CHECKING:
    from engage.channels.deeplinks import DeepLinkKind

telegram_app = typer.Typer(help="Telegram bot: webhook registration, polling, deep links.")


def register(app: typer.Typer) -> None:
    app.add_typer(telegram_app, name="telegram")


def _settings() -> Settings:
    settings = get_settings()
    if not settings.telegram_bot_token:
        fail("TELEGRAM_BOT_TOKEN is not set")
    return settings


@telegram_app.command("set-webhook")
def set_webhook(
    url: Annotated[
        str | None, typer.Option(help="Public webhook URL (default: ENGAGE_PUBLIC_URL + path)")
    ] = None,
    drop_pending: Annotated[
        bool, typer.Option(help="Discard updates Telegram queued while no webhook was set")
    ] = False,
) -> None:
    """Register ENGAGE_PUBLIC_URL/webhooks/telegram with Telegram, with the secret token."""
    from engage.channels.telegram import build_bot
    from engage.channels.telegram_updates import ALLOWED_UPDATES
    from engage.web.telegram_routes import WEBHOOK_PATH

    settings = _settings()
    if not settings.telegram_webhook_secret:
        fail("TELEGRAM_WEBHOOK_SECRET is required for webhook mode")
    target = url or settings.public_url.rstrip("/") + WEBHOOK_PATH

    async def call() -> None:
        bot = build_bot(settings)
        try:
            await bot.set_webhook(
                url=target,
                secret_token=settings.telegram_webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=drop_pending,
            )
        finally:
            await bot.session.close()

    _run_api(call())
    console.print(f"webhook set: {target} (updates: {', '.join(ALLOWED_UPDATES)})")


@telegram_app.command("delete-webhook")
def delete_webhook() -> None:
    """Remove the webhook (needed before `engage telegram poll`)."""
    from engage.channels.telegram import build_bot

    settings = _settings()

    async def call() -> None:
        bot = build_bot(settings)
        try:
            await bot.delete_webhook()
        finally:
            await bot.session.close()

    _run_api(call())
    console.print("webhook deleted")


@telegram_app.command("link")
def link(
    campaign: Annotated[int | None, typer.Option(help="Campaign id to join")] = None,
    session: Annotated[int | None, typer.Option(help="Dialogue session id to join")] = None,
    days: Annotated[int, typer.Option(min=1, max=365, help="Days until the link expires")] = 30,
) -> None:
    """Print a t.me deep link that joins a campaign or a dialogue session (expiring)."""
    from engage.channels.deeplinks import link_url, make_code
    from engage.channels.telegram import build_bot

    settings = _settings()
    if (campaign is None) == (session is None):
        fail("give exactly one of --campaign or --session")
    kind: DeepLinkKind = "campaign" if campaign is not None else "session"
    target = campaign if campaign is not None else session
    assert target is not None
    if target <= 0:
        fail("the id must be a positive number")
    code = make_code(
        settings.secret_bytes(), kind, target, now=datetime.now(UTC), ttl=timedelta(days=days)
    )

    async def username() -> str:
        bot = build_bot(settings)
        try:
            me = await bot.get_me()
        finally:
            await bot.session.close()
        return me.username or "your_bot"

    console.print(link_url(_run_api(username()), code), markup=False, highlight=False)


@telegram_app.command("poll")
def poll(
    timeout: Annotated[int, typer.Option(min=1, max=50, help="Long-poll wait in seconds")] = 25,
) -> None:
    """Long polling for development: same runtime and outbox dispatcher as the webhook."""
    from aiogram.exceptions import AiogramError, TelegramAPIError

    settings = _settings()
    try:
        asyncio.run(run_polling(settings, polling_timeout=timeout))
    except TelegramAPIError as exc:
        fail(f"Telegram API: {exc.message}")
    except AiogramError as exc:
        fail(f"Telegram API: unexpected answer from {_api_host()} ({type(exc).__name__})")
    except KeyboardInterrupt:
        pass


async def run_polling(
    settings: Settings,
    *,
    polling_timeout: int = 25,
    runtime: Any = None,
    engine: Any = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Poll updates into the runtime and drain the Telegram outbox until ``stop`` is set.

    Updates are handled one at a time, in order (``handle_as_tasks=False``), so one
    resident's quick replies can't overtake each other.
    """
    from engage.channels.telegram import TelegramSender, build_bot
    from engage.channels.telegram_links import runtime_gateway
    from engage.channels.telegram_updates import ALLOWED_UPDATES, build_dispatcher
    from engage.scheduling.dispatcher import Dispatcher as OutboxDispatcher

    if runtime is None:
        runtime, engine = _make_runtime(settings)
    own_signals = stop is None
    stop = stop or asyncio.Event()
    bot = build_bot(settings)
    sender_bot = build_bot(settings)
    updates = build_dispatcher(runtime_gateway(runtime, settings))
    outbox = OutboxDispatcher(
        engine=engine,
        settings=settings,
        senders={"telegram": TelegramSender(sender_bot)},
        runtime=runtime,
    )
    await bot.delete_webhook()  # getUpdates is refused while a webhook is set
    polling = asyncio.create_task(
        updates.start_polling(
            bot,
            polling_timeout=polling_timeout,
            handle_as_tasks=False,
            allowed_updates=ALLOWED_UPDATES,
            handle_signals=own_signals,
        )
    )
    sending = asyncio.create_task(outbox.run_forever(stop))
    waiter = asyncio.create_task(stop.wait())
    console.print("polling Telegram; Ctrl-C to stop")
    try:
        await asyncio.wait({polling, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        if not polling.done():
            with contextlib.suppress(RuntimeError):
                await updates.stop_polling()
        await asyncio.gather(polling, sending, waiter, return_exceptions=True)
        await sender_bot.session.close()
        await bot.session.close()


def _make_runtime(settings: Settings) -> tuple[Any, Any]:
    from engage.commands.database import open_engine
    from engage.flows_catalog import FlowCatalog
    from engage.runtime import Runtime

    engine = open_engine(settings.effective_database_url)
    runtime = Runtime(engine=engine, settings=settings, catalog=FlowCatalog(settings.flows_dir))
    return runtime, engine


def _run_api(coro: Any) -> Any:
    from aiogram.exceptions import AiogramError, TelegramAPIError

    try:
        return asyncio.run(coro)
    except TelegramAPIError as exc:
        fail(f"Telegram API: {exc.message}")
    except AiogramError as exc:  # e.g. an answer that is not Bot API JSON (wrong URL)
        fail(f"Telegram API: unexpected answer from {_api_host()} ({type(exc).__name__})")


def _api_host() -> str:
    return get_settings().telegram_api_url
