"""``engage telegram ...``: register the webhook, long-poll for development, make deep links."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
    """Print a t.me deep link that joins a campaign or a dialogue session (expiring).

    The link is printed on one line, never wrapped, so it can be piped into a flyer. It
    expires after --days, or earlier at the campaign's cutoff or the session's start.
    """
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
    now = datetime.now(UTC)
    ends, notes = _link_target(kind, target, now)
    ttl = timedelta(days=days)
    if ends is not None and ends - now < ttl:
        ttl = ends - now
        notes.append(f"the link expires with the {kind} on {ends:%Y-%m-%d %H:%M} UTC")
    code = make_code(settings.secret_bytes(), kind, target, now=now, ttl=ttl)

    async def username() -> str:
        bot = build_bot(settings)
        try:
            me = await bot.get_me()
        finally:
            await bot.session.close()
        return me.username or "your_bot"

    url = link_url(_run_api(username()), code)
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(url)  # plain: rich would wrap the code at the terminal width


def _link_target(kind: str, target: int, now: datetime) -> tuple[datetime | None, list[str]]:
    """The campaign or session a link will join, checked now (a link to nothing would send
    residents to the plain survey): when it stops taking people, and notes for the operator."""
    from sqlmodel import Session

    from engage.commands.db.connect import open_engine
    from engage.scheduling.clock import aware
    from engage.storage.tables.scheduling import Campaign, DialogueSession

    engine = open_engine()
    try:
        with Session(engine) as db:
            if kind == "campaign":
                found = db.get(Campaign, target)
                if found is None:
                    fail(f"no campaign {target} (see `engage campaign list`)")
                if found.status in ("finished", "cancelled"):
                    fail(f"campaign {target} is {found.status}: its link would start the "
                         "plain survey")
                if found.cutoff_at is None:
                    return None, [f"campaign {target} has no cutoff: it finishes once its "
                                  "audience is done, and the link then starts the plain survey"]
                return aware(found.cutoff_at), []
            ds = db.get(DialogueSession, target)
            if ds is None:
                fail(f"no dialogue session {target} (see `engage dialogue list`)")
            if ds.status != "scheduled" or now >= aware(ds.starts_at):
                fail(f"dialogue session {target} is no longer taking RSVPs ({ds.status})")
            return aware(ds.starts_at), []
    finally:
        engine.dispose()


@telegram_app.command("poll")
def poll(
    timeout: Annotated[int, typer.Option(min=1, max=50, help="Long-poll wait in seconds")] = 25,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning, error.")
    ] = "info",
) -> None:
    """Long polling instead of the webhook: the same runtime, outbox dispatcher and scheduler
    ticks as `engage serve`, in one process."""
    from aiogram.exceptions import AiogramError, TelegramAPIError

    from engage.logging import configure

    settings = _settings()
    configure(log_level.upper(), json_lines=settings.env == "production")
    route_library_logs("aiogram")
    try:
        asyncio.run(run_polling(settings, polling_timeout=timeout))
    except TelegramAPIError as exc:
        fail(f"Telegram API: {exc.message}")
    except AiogramError as exc:
        fail(f"Telegram API: unexpected answer from {_api_host()} ({type(exc).__name__})")
    except KeyboardInterrupt:
        pass


def route_library_logs(name: str, level: int = logging.WARNING) -> None:
    """Send a library's log records through engage's handler (timestamps, scrub filter)
    instead of Python's last-resort printer; INFO chatter stays out."""
    handlers = [h for h in logging.getLogger("engage").handlers if getattr(h, "_engage", False)]
    library = logging.getLogger(name)
    for handler in handlers:
        if handler not in library.handlers:
            library.addHandler(handler)
    library.setLevel(level)
    library.propagate = False


async def run_polling(
    settings: Settings,
    *,
    polling_timeout: int = 25,
    runtime: Any = None,
    engine: Any = None,
    stop: asyncio.Event | None = None,
    scheduler: Any = None,
) -> None:
    """Poll updates into the runtime, send the outbox and run the scheduler's ticks until
    ``stop`` is set: everything `engage serve` runs besides HTTP.

    Updates are handled one at a time, in order (``handle_as_tasks=False``), so one
    resident's quick replies can't overtake each other. The ticks run here unless
    ENGAGE_INPROCESS_SCHEDULER is off (then `engage scheduler` must run beside it, as for
    `engage serve`); ``scheduler`` replaces the leader (tests).
    """
    from engage.channels.registry import build_senders
    from engage.channels.telegram import build_bot
    from engage.channels.telegram_updates import ALLOWED_UPDATES, build_dispatcher
    from engage.outbox import Dispatcher as OutboxDispatcher
    from engage.telegram.service import TelegramService

    if runtime is None:
        runtime, engine = _make_runtime(settings)
    own_signals = stop is None
    stop = stop or asyncio.Event()
    bot = build_bot(settings)
    updates = build_dispatcher(TelegramService.for_runtime(runtime, settings), polling=True)
    outbox = OutboxDispatcher(
        engine=engine, settings=settings, senders=build_senders(settings),
        provider_opt_out=runtime.record_provider_opt_out,
    )
    if scheduler is None and settings.run_scheduler_in_process:
        scheduler = _leader(settings, engine, runtime)
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
    background = [asyncio.create_task(outbox.run_forever(stop))]
    if scheduler is not None:
        background.append(asyncio.create_task(scheduler.run(stop)))
        ticks = "scheduler ticks run here"
    else:
        ticks = "no scheduler here: run `engage scheduler` beside it (ENGAGE_INPROCESS_SCHEDULER=0)"
    waiter = asyncio.create_task(stop.wait())
    console.print(f"polling Telegram ({ticks}); Ctrl-C to stop", highlight=False, markup=False)
    try:
        await asyncio.wait({polling, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        if not polling.done():
            with contextlib.suppress(RuntimeError):
                await updates.stop_polling()
        await asyncio.gather(polling, *background, waiter, return_exceptions=True)
        await outbox.aclose()
        await bot.session.close()


def _leader(settings: Settings, engine: Any, runtime: Any) -> Any:
    from engage.scheduling.leader import SchedulerLeader
    from engage.scheduling.ticks import Ticks

    return SchedulerLeader(ticks=Ticks(engine=engine, settings=settings, runtime=runtime),
                           clock=runtime.clock)


def _make_runtime(settings: Settings) -> tuple[Any, Any]:
    from engage.commands.db.connect import open_engine
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
