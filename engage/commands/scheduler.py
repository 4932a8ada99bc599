"""``engage scheduler`` (the tick leader) and ``engage worker`` (outbox dispatch): separate
processes for scale-out; ``engage serve`` runs both in-process by default."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import Annotated, NoReturn

import typer
from sqlalchemy.engine import Engine

from engage.commands.common import console
from engage.config import ConfigError, Settings, get_settings

log = logging.getLogger(__name__)


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 1 (``common.fail`` lets rich wrap long lines at 80 columns)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@dataclass
class Context:
    """What every scheduling command needs: settings, an engine and the runtime."""

    settings: Settings
    engine: Engine
    runtime: object


def open_context(url: str | None = None) -> Context:
    """Settings, engine (schema ready) and runtime, or one clear error line."""
    from engage.commands.db.connect import open_engine
    from engage.flows_catalog import FlowCatalog
    from engage.runtime import Runtime

    settings = get_settings()
    engine = open_engine(url)
    runtime = Runtime(engine=engine, settings=settings, catalog=FlowCatalog(settings.flows_dir))
    return Context(settings, engine, runtime)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


def scheduler_command(
    url: Annotated[str | None, typer.Option("--url", help="Database URL "
                                            "(default: ENGAGE_DATABASE_URL).")] = None,
) -> None:
    """Run the scheduler leader: campaign fan-out, reminders, dialogue sessions, flow
    timeouts and the daily retention purge. Run one or more; only one leads (PostgreSQL)."""
    from engage.scheduling.leader import SchedulerLeader
    from engage.scheduling.ticks import Ticks

    ctx = open_context(url)
    leader = SchedulerLeader(ticks=Ticks(engine=ctx.engine, settings=ctx.settings,
                                         runtime=ctx.runtime))  # type: ignore[arg-type]

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        console.print("scheduler running (Ctrl-C to stop)", highlight=False, markup=False)
        await leader.run(stop)

    asyncio.run(main())


def worker_command(
    url: Annotated[str | None, typer.Option("--url", help="Database URL "
                                            "(default: ENGAGE_DATABASE_URL).")] = None,
    batch: Annotated[int, typer.Option(help="Rows claimed per round.", min=1)] = 100,
    concurrency: Annotated[int, typer.Option(help="Sends in flight at once.", min=1)] = 64,
) -> None:
    """Run an outbox worker: claims due rows and sends them (several may run on PostgreSQL)."""
    from engage.channels.registry import build_senders
    from engage.outbox import Dispatcher
    from engage.runtime import Runtime

    ctx = open_context(url)
    assert isinstance(ctx.runtime, Runtime)
    try:
        senders = build_senders(ctx.settings)
    except ConfigError as exc:
        fail(str(exc))
    if not senders:
        fail("no channel configured (TWILIO_* or TELEGRAM_BOT_TOKEN)")
    dispatcher = Dispatcher(engine=ctx.engine, settings=ctx.settings, senders=senders,
                            provider_opt_out=ctx.runtime.record_provider_opt_out,
                            concurrency=concurrency)

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        console.print(f"worker {dispatcher.worker_id} running (Ctrl-C to stop)",
                      highlight=False, markup=False)
        try:
            await dispatcher.run_forever(stop, limit=batch)
        finally:
            await dispatcher.aclose()

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    app.command("scheduler")(scheduler_command)
    app.command("worker")(worker_command)
