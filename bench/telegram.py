"""Telegram webhook throughput, end to end, beside a bare endpoint measured in the same run.

The server (``engage serve``'s app on SQLite, uvicorn, one process) runs in a subprocess; this
process sends authenticated Telegram updates to ``POST /webhooks/telegram`` over loopback
from many residents at once, then the same payloads to a bare FastAPI endpoint on the same
server that only checks the secret and parses the JSON into an aiogram ``Update``. Each
webhook request runs the real path: secret check, aiogram Dispatcher, runtime (dedupe, run,
engine, outbox) in one transaction. Then the outbox those updates produced is drained
through ``TelegramSender`` to the fake Bot API on loopback (sends per second).

    .venv/bin/python bench/telegram.py [--updates 3000] [--residents 300] [--concurrency 32]

Figures, not pass/fail: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiogram.types import Update
from fastapi import Request
from fastapi.responses import JSONResponse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "123456:BENCH-token"
SECRET = "bench-webhook-secret-0123456789"
BARE_PATH = "/bench/bare-telegram"


# -- server side ---------------------------------------------------------------------------


def serve_engage(port: int) -> None:
    """Subprocess: ``engage serve``'s app (SQLite), dispatcher off so only webhooks are timed."""
    import uvicorn

    from engage.config import get_settings
    from engage.storage.db import create_schema, make_engine
    from engage.web.app import create_app

    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    create_schema(engine)
    app = create_app(settings, engine=engine, start_background=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_bare(port: int) -> None:
    """Subprocess: a bare FastAPI endpoint that checks the secret and parses the same Update."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()
    app.add_api_route(BARE_PATH, _bare, methods=["POST"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _bare(request: Request) -> JSONResponse:
    presented = request.headers.get("X-Telegram-Bot-Api-Secret-Token") or ""
    if not hmac.compare_digest(presented.encode(), SECRET.encode()):
        return JSONResponse({"ok": False}, status_code=403)
    Update.model_validate(json.loads(await request.body()))
    return JSONResponse({"ok": True})


# -- load side -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _payloads(count: int, residents: int, first_id: int) -> list[dict[str, Any]]:
    """Round-robin over residents: the first message of each starts a run, later ones answer."""
    from tests.fakes.telegram_api import Updates

    factory = Updates(start=first_id)
    replies = ["/start", "yes", "4", "Downtown", "3", "5", "2", "none", "I feel safer lately"]
    out = []
    for n in range(count):
        resident, turn = n % residents, n // residents
        out.append(factory.text(880_000_000 + resident, replies[turn % len(replies)]))
    return out


async def _load(
    url: str, payloads: list[dict[str, Any]], concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
    import aiohttp

    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for p in payloads:
        queue.put_nowait(p)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def worker(session: aiohttp.ClientSession) -> None:
        while True:
            try:
                payload = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            async with session.post(url, json=payload, headers=headers) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return elapsed, latencies, statuses


def _report(name: str, elapsed: float, latencies: list[float], statuses: dict[int, int]) -> float:
    rate = len(latencies) / elapsed
    qs = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<26} {len(latencies):>6} req  {rate:>8.0f}/s  "
        f"p50 {qs[49] * 1000:>6.1f} ms  p99 {qs[98] * 1000:>6.1f} ms  status {statuses}"
    )
    return rate


async def _drain_outbox(database_url: str, api_url: str) -> tuple[int, float]:
    """Send every pending Telegram outbox row to the fake API; (sent, seconds)."""
    from engage.channels.telegram import build_telegram_sender
    from engage.config import Settings
    from engage.flows_catalog import FlowCatalog
    from engage.outbox import Dispatcher
    from engage.runtime import Runtime
    from engage.storage.db import make_engine

    settings = Settings(  # type: ignore[call-arg]  # by alias: mypy runs without pydantic's plugin
        ENGAGE_DATABASE_URL=database_url,
        TELEGRAM_BOT_TOKEN=TOKEN,
        ENGAGE_TELEGRAM_API_URL=api_url,
        ENGAGE_SECRET_KEY=os.environ["ENGAGE_SECRET_KEY"],
        ENGAGE_QUIET_HOURS="00:00-00:01",
    )
    sender = build_telegram_sender(settings)
    engine = make_engine(database_url)
    runtime = Runtime(engine=engine, settings=settings, catalog=FlowCatalog(settings.flows_dir))
    dispatcher = Dispatcher(
        engine=engine,
        settings=settings,
        senders={"telegram": sender},
        provider_opt_out=runtime.record_provider_opt_out,
        rates={"telegram": 0},  # rate limit off: measure the sender, not Telegram's 30/s cap
    )
    sent = 0
    began = time.perf_counter()
    try:
        while True:
            done = await dispatcher.run_once(limit=500)
            if not done:
                break
            sent += done
    finally:
        await sender.close()
    return sent, time.perf_counter() - began


async def _adapter_only(payloads: list[dict[str, Any]]) -> float:
    """In-process: Update parsing + aiogram Dispatcher + Router per update, runtime replaced by
    a no-op -- the Telegram adapter's own cost, to set beside the end-to-end figure."""
    from engage.channels.telegram import build_bot
    from engage.channels.telegram_updates import build_dispatcher
    from engage.config import Settings
    from engage.telegram.service import TelegramService

    bot = build_bot(Settings(TELEGRAM_BOT_TOKEN=TOKEN))  # type: ignore[call-arg]  # by alias
    dispatcher = build_dispatcher(TelegramService(handle=lambda inbound: None))
    started = time.perf_counter()
    for payload in payloads:
        await dispatcher.feed_update(bot, Update.model_validate(payload, context={"bot": bot}))
    elapsed = time.perf_counter() - started
    await bot.session.close()
    return len(payloads) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--residents", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--serve", nargs=2, metavar=("MODE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        mode, port = args.serve
        (serve_engage if mode == "engage" else serve_bare)(int(port))
        return

    from tests.fakes.telegram_api import FakeTelegramAPI

    with tempfile.TemporaryDirectory() as tmp, FakeTelegramAPI() as api:
        database_url = f"sqlite:///{tmp}/engage.sqlite3"
        env = os.environ | {
            "ENGAGE_ENV": "development",
            "ENGAGE_DATA_DIR": tmp,
            "ENGAGE_DATABASE_URL": database_url,
            "ENGAGE_SECRET_KEY": "bench-secret-key-0123456789abcdef-0123456789",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "ENGAGE_TELEGRAM_API_URL": api.url,
            "ENGAGE_INPROCESS_SCHEDULER": "0",
            "PYTHONPATH": str(ROOT),
        }
        os.environ["ENGAGE_SECRET_KEY"] = env["ENGAGE_SECRET_KEY"]
        payloads = _payloads(args.updates, args.residents, first_id=1)
        warm = _payloads(50, 50, first_id=10_000_000)
        print(
            f"{args.updates} updates from {args.residents} residents, "
            f"concurrency {args.concurrency}, SQLite, one uvicorn process per server, "
            f"{os.cpu_count()} CPUs shared by server and load"
        )
        rates = {}
        for mode, path, label in (
            ("bare", BARE_PATH, "bare endpoint (parse only)"),
            ("engage", "/webhooks/telegram", "POST /webhooks/telegram"),
        ):
            port = _free_port()
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", mode, str(port)], env=env, cwd=str(ROOT)
            )
            try:
                _wait_ready(port, server)
                asyncio.run(_load(f"http://127.0.0.1:{port}{path}", warm, 8))
                url = f"http://127.0.0.1:{port}{path}"
                rates[mode] = _report(label, *asyncio.run(_load(url, payloads, args.concurrency)))
            finally:
                server.terminate()
                server.wait(10)
        print(f"webhook rate = {rates['engage'] / rates['bare']:.0%} of the bare endpoint")
        adapter = asyncio.run(_adapter_only(payloads))
        print(f"adapter only (no DB, in-process)    {adapter:>8.0f} updates/s")
        sent, seconds = asyncio.run(_drain_outbox(database_url, api.url))
        if sent:
            print(f"outbox -> fake Bot API      {sent:>6} msg  {sent / seconds:>8.0f}/s")


def _wait_ready(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("server exited during startup")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not become ready")


if __name__ == "__main__":
    main()
