"""SMS benchmark: signed Twilio webhooks end to end, and the dispatcher against a fake API.

1. Webhooks: ``engage``'s app (signature check, runtime, SQLite, outbox; the in-process
   dispatcher drains replies to the development outbox) runs under uvicorn in one process; a
   load process posts pre-signed webhooks over 127.0.0.1 (residents answering the survey in
   turn) and measures requests/s and p50/p99 latency. A bare FastAPI endpoint that only
   parses the same form is measured in the same run, with the same load, as the ceiling,
   and engage's app with a no-op runtime shows what the webhook layer itself costs
   (``--without-dispatcher`` adds engage with inbound handling only, no sends).
2. Dispatcher: N pending outbox rows on SQLite sent with the real twilio Client to the
   loopback fake Twilio API (its own process), rate limit off: sends/s.

Figures, not pass/fail. Bounded: every loop has a fixed number of requests; only 127.0.0.1.

    .venv/bin/python bench/sms.py                       # both parts, defaults
    .venv/bin/python bench/sms.py --requests 6000 --concurrency 64 --sends 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import StealMeter  # noqa: E402

PUBLIC_URL = "http://127.0.0.1:8000"  # what the load "Twilio" signs (not where it connects)
SMS_PATH = "/webhooks/twilio/sms"
SURVEY = ["Hello", "YES", "1", "Hampden", "4", "2", "3", "4", "5", "More street lights", "yes",
          "2", "skip", "no"]
ACCOUNT_SID = "AC" + "0" * 32
MODES = {
    "bare": "bare FastAPI form parse",
    "stub": "engage webhook, runtime no-op",
    "engage": "engage end to end (SQLite)",
}
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def _bench_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "ENGAGE_", "TELEGRAM_"))}
    env.update({
        "ENGAGE_ENV": "development",
        "ENGAGE_DATA_DIR": str(data_dir),
        "ENGAGE_SECRET_KEY": "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz",
        "ENGAGE_PUBLIC_URL": PUBLIC_URL,
        "ENGAGE_INPROCESS_SCHEDULER": "false",
    })
    return env


# -- servers (run as child processes) -----------------------------------------------------


def serve_engage(port: int, *, dispatcher: bool = True) -> None:
    import uvicorn

    from engage.config import get_settings
    from engage.storage.db import create_schema, make_engine
    from engage.web.app import create_app

    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    create_schema(engine)
    app = create_app(settings, engine=engine, start_background=dispatcher)
    uvicorn.run(app, host="127.0.0.1", port=port,
                log_level="warning", access_log=False)


def serve_stub(port: int) -> None:
    """engage's app with the runtime replaced by a no-op: the webhook layer's own cost."""
    import uvicorn

    from engage.config import get_settings
    from engage.runtime import InboundOutcome
    from engage.storage.db import create_schema, make_engine
    from engage.web.app import create_app

    class NoRuntime:  # answers on the loop, as the real runtime's async entry does
        async def handle_inbound_async(self, inbound: object) -> InboundOutcome:
            return InboundOutcome(status="handled", participant_key="-", outbox_ids=())

    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    create_schema(engine)
    app = create_app(settings, engine=engine, runtime=NoRuntime(), start_background=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_bare(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    from engage.channels.sms import EMPTY_TWIML

    app = FastAPI()

    async def bare(request: Request) -> Response:
        form = await request.form()
        _ = (form.get("From"), form.get("Body"), form.get("MessageSid"))
        return Response(EMPTY_TWIML, media_type="application/xml")

    bare.__annotations__ = {"request": Request, "return": Response}  # locals, not module names
    app.router.routes.clear()
    app.add_api_route(SMS_PATH, bare, methods=["POST"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- load ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _requests(total: int, token: str, run_id: str) -> list[list[tuple[dict[str, str], str]]]:
    """Per resident, their messages in order (a resident never has two in flight)."""
    from engage.channels.sms import sign

    per_resident = len(SURVEY)
    residents = max(1, total // per_resident)
    scripts = []
    count = 0
    for r in range(residents):
        number = f"+1410{(int(run_id, 16) + r) % 10_000_000:07d}"
        script = []
        for i, body in enumerate(SURVEY):
            if count >= total:
                break
            form = {"MessageSid": f"SM{run_id}{r:08d}{i:04d}".ljust(34, "0")[:34],
                    "AccountSid": ACCOUNT_SID, "From": number, "To": "+14435550000",
                    "Body": body, "NumMedia": "0"}
            script.append((form, sign(token, PUBLIC_URL + SMS_PATH, form)))
            count += 1
        scripts.append(script)
    return scripts


async def _load(port: int, scripts: list[list[tuple[dict[str, str], str]]],
                concurrency: int) -> LoadResult:
    import aiohttp

    url = f"http://127.0.0.1:{port}{SMS_PATH}"
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[list[tuple[dict[str, str], str]]] = asyncio.Queue()
    for script in scripts:
        queue.put_nowait(script)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while not queue.empty():
            script = queue.get_nowait()
            for form, signature in script:
                started = time.perf_counter()
                async with session.post(url, data=form,
                                        headers={"X-Twilio-Signature": signature}) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return LoadResult(len(latencies), errors, seconds, latencies)


def run_load(port: int, total: int, concurrency: int, token: str) -> LoadResult:
    scripts = _requests(total, token, os.urandom(4).hex())
    return asyncio.run(_load(port, scripts, concurrency))


def _start(mode: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, __file__, "_serve", mode, str(port)], env=env,
                            cwd=str(ROOT))
    _wait_port(port)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _load_in_child(port: int, total: int, concurrency: int, token: str) -> LoadResult:
    """Run the load generator in its own process (so it never shares the server's GIL)."""
    import json

    out = subprocess.run([sys.executable, __file__, "_load", str(port), str(total),
                          str(concurrency), token], capture_output=True, text=True, check=True,
                         cwd=str(ROOT))
    data = json.loads(out.stdout)
    return LoadResult(data["requests"], data["errors"], data["seconds"], data["latencies"])


def bench_webhooks(total: int, concurrency: int, warmup: int) -> None:
    from engage.config import DEV_TWILIO_AUTH_TOKEN

    with tempfile.TemporaryDirectory() as tmp:
        env = _bench_env(Path(tmp))
        results: dict[str, LoadResult] = {}
        steal: dict[str, float | None] = {}
        for mode in MODES:
            port = _free_port()
            proc = _start(mode, port, env)
            try:
                _load_in_child(port, warmup, concurrency, DEV_TWILIO_AUTH_TOKEN)
                with StealMeter() as meter:
                    results[mode] = _load_in_child(port, total, concurrency,
                                                   DEV_TWILIO_AUTH_TOKEN)
                steal[mode] = meter.share
            finally:
                _stop(proc)
        print(f"webhooks: {total} signed requests, concurrency {concurrency}, "
              f"SQLite, {os.cpu_count()} CPUs (server and load share them)")
        for mode, label in MODES.items():
            r = results[mode]
            stolen = steal.get(mode)
            print(f"  {label:30s} {r.rate:8.0f} req/s  p50 {r.pct(0.50):6.1f} ms  "
                  f"p99 {r.pct(0.99):6.1f} ms  errors {r.errors}"
                  + (f"  (cpu steal {stolen:.0%})" if stolen is not None else ""))
        ratio = results["engage"].rate / results["bare"].rate
        print(f"  engage / bare: {ratio:.0%}  (targets: >= 1,000 msg/s and >= 30%)")


# -- dispatcher ---------------------------------------------------------------------------


def bench_dispatcher(sends: int, batch: int, pipelines: int = 2) -> None:
    from engage.channels.sms import TwilioSender
    from engage.config import Settings
    from engage.flows_catalog import FlowCatalog
    from engage.outbox import Dispatcher
    from engage.privacy import encrypt_address
    from engage.runtime import Runtime
    from engage.storage.db import create_schema, make_engine, session_scope
    from engage.storage.tables import Outbox, Participant

    api_port = _free_port()
    api = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fakes" / "twilio_api.py"),
                            "--port", str(api_port)], cwd=str(ROOT))
    try:
        _wait_port(api_port)
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, ENGAGE_DATA_DIR=tmp, ENGAGE_SECRET_KEY="bench-" + "x" * 40,
                TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN=_fake_token(),
                TWILIO_FROM_NUMBER="+14435550000",
                ENGAGE_TWILIO_API_URL=f"http://127.0.0.1:{api_port}", ENGAGE_SMS_RATE="0")
            engine = make_engine(settings.effective_database_url)
            create_schema(engine)
            secret = settings.secret_bytes()
            with session_scope(engine) as session:
                people = [Participant(key=f"k{i}", channel="sms",
                                      address_enc=encrypt_address(secret, f"+1410555{i:04d}"))
                          for i in range(min(sends, 2000))]
                session.add_all(people)
                session.flush()
                for i in range(sends):
                    session.add(Outbox(participant_id=people[i % len(people)].id, channel="sms",
                                       kind="reply", body=f"Question {i}: how safe do you feel?",
                                       dedupe_key=f"bench-{i}"))
            sender = TwilioSender(settings)
            runtime = Runtime(engine=engine, settings=settings,
                              catalog=FlowCatalog(settings.flows_dir))
            dispatcher = Dispatcher(engine=engine, settings=settings, senders={"sms": sender},
                                    provider_opt_out=runtime.record_provider_opt_out,
                                    concurrency=64, pipelines=pipelines)

            async def loop() -> int:
                done = 0
                for _ in range(sends // batch + 10):  # bounded
                    count = await dispatcher.run_once(limit=batch)
                    done += count
                    if not count:
                        break
                return done

            async def drain() -> tuple[int, float]:
                # as run_forever does: overlapping batches, so one sends while another records
                started = time.perf_counter()
                done = sum(await asyncio.gather(*(loop() for _ in range(pipelines))))
                seconds = time.perf_counter() - started
                await sender.close()
                return done, seconds

            done, seconds = asyncio.run(drain())
            print(f"dispatcher: {done} sends via twilio Client -> fake API on 127.0.0.1, "
                  f"rate limit off, batch {batch}")
            stats = dispatcher.stats
            print(f"  {done / seconds:8.0f} sends/s  ({seconds:.2f} s; sent={stats['sent']}, "
                  f"failed={stats['failed']}, retried={stats['retried']}; "
                  f"{pipelines} batches in flight)  (target >= 1,000/s)")
            engine.dispose()
    finally:
        _stop(api)


def _fake_token() -> str:
    from tests.fakes.twilio_api import AUTH_TOKEN as FAKE_TOKEN

    return FAKE_TOKEN


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        servers = {"bare": serve_bare, "stub": serve_stub, "engage": serve_engage,
                   "engage-no-dispatcher": lambda p: serve_engage(p, dispatcher=False)}
        servers[sys.argv[2]](int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_load":
        import json

        r = run_load(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        print(json.dumps({"requests": r.requests, "errors": r.errors, "seconds": r.seconds,
                          "latencies": r.latencies}))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--sends", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--only", choices=("webhooks", "dispatcher"))
    parser.add_argument("--without-dispatcher", action="store_true",
                        help="also measure engage with no in-process dispatcher (inbound only)")
    args = parser.parse_args()
    if args.only != "dispatcher":
        if args.without_dispatcher:
            MODES["engage-no-dispatcher"] = "engage inbound only (no sends)"
        bench_webhooks(args.requests, args.concurrency, args.warmup)
    if args.only != "webhooks":
        bench_dispatcher(args.sends, args.batch)


if __name__ == "__main__":
    main()
