"""``create_app``: the FastAPI application behind ``engage serve``.

The runtime and the database engine are built once per app; the dispatcher (and, when
``ENGAGE_INPROCESS_SCHEDULER`` is on, the scheduler leader) run as background tasks in the
same event loop unless ``start_background=False`` (tests drive them by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from starlette.types import Receive, Scope, Send

from engage.channels.sms import SMS_WEBHOOK_PATH
from engage.config import Settings, get_settings
from engage.web import health, sms_webhook, telegram_routes, twilio_routes
from engage.web.health import Metrics

STOP_MARGIN = 2.0  # seconds past the drain for recording and closing (stop timeout: 8 s)


class EngageApp(FastAPI):
    """FastAPI, except that the inbound SMS webhook, the one route every resident's message
    takes, is served as plain ASGI (``web.sms_webhook``: why, and what it guarantees)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _route_path(scope) == SMS_WEBHOOK_PATH:
            await sms_webhook.handle(self.state, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path below the app's root path, as Starlette's router matches it."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root + "/") else path


def _build_runtime(engine: Engine, settings: Settings) -> Any:
    from engage.flows_catalog import FlowCatalog
    from engage.runtime import Runtime

    return Runtime(engine=engine, settings=settings, catalog=FlowCatalog(settings.flows_dir))


def _build_dispatcher(app: FastAPI) -> Any:
    from engage.channels.registry import build_senders
    from engage.outbox import Dispatcher

    state = app.state
    return Dispatcher(engine=state.engine, settings=state.settings,
                      senders=build_senders(state.settings),
                      provider_opt_out=state.runtime.record_provider_opt_out)


def _leader_runner(app: FastAPI) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    """The scheduler leader's loop (APScheduler is imported only when it runs in process)."""
    from engage.scheduling.leader import SchedulerLeader
    from engage.scheduling.ticks import Ticks

    state = app.state
    scheduler = SchedulerLeader(
        ticks=Ticks(engine=state.engine, settings=state.settings, runtime=state.runtime))
    state.scheduler = scheduler
    return scheduler.run


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []
    if app.state.start_background:
        if app.state.dispatcher is None:
            app.state.dispatcher = _build_dispatcher(app)
        tasks.append(asyncio.create_task(app.state.dispatcher.run_forever(stop),
                                         name="engage-dispatcher"))
        if app.state.settings.run_scheduler_in_process:
            run_leader = _leader_runner(app)
            tasks.append(asyncio.create_task(run_leader(stop), name="engage-scheduler"))
    try:
        yield
    finally:
        stop.set()  # the dispatcher releases what it has not sent and drains the rest
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(
                    task, timeout=app.state.settings.shutdown_drain_seconds + STOP_MARGIN)
        if app.state.dispatcher is not None and app.state.start_background:
            await app.state.dispatcher.aclose()
        if app.state.owns_runtime:
            app.state.runtime.close()  # its batch worker and kept connections
        webhook = getattr(app.state, "telegram_webhook", None)
        if webhook is not None:
            with contextlib.suppress(Exception):
                await webhook.close()


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    runtime: Any | None = None,
    start_background: bool = True,
    dispatcher: Any | None = None,
) -> FastAPI:
    """Build the app. Pass ``engine``/``runtime``/``dispatcher`` to share them with a caller."""
    settings = settings or get_settings()
    settings.check_production()
    if engine is None:
        from engage.storage.db import engine_options, make_engine

        url = settings.effective_database_url
        options: dict[str, Any] = dict(engine_options(url))  # the CLI's (no prepares)
        engine = make_engine(url, **options)
    app = EngageApp(title="engage", docs_url=None, redoc_url=None, openapi_url=None,
                    lifespan=_lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.runtime = runtime if runtime is not None else _build_runtime(engine, settings)
    app.state.owns_runtime = runtime is None
    app.state.metrics = Metrics()
    app.state.dispatcher = dispatcher
    app.state.start_background = start_background
    app.include_router(health.router)
    app.include_router(twilio_routes.router)
    if not settings.twilio_enabled and settings.env != "production":
        app.include_router(twilio_routes.dev_router)
    app.include_router(telegram_routes.router)
    from engage.web import api

    api.mount(app)  # /api/v1/... and /api/openapi.json
    _install_console(app)
    return app


def _install_console(app: FastAPI) -> None:
    """The staff and mediator console and the public page (engage/web/console)."""
    from engage.web import console

    console.install(app)
