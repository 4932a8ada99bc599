"""A fake Twilio REST API on 127.0.0.1, so the real twilio ``Client`` code runs in tests.

It answers ``POST /2010-04-01/Accounts/{sid}/Messages.json`` the way Twilio does (201 with a
Message resource, JSON errors with a Twilio error code), checks HTTP Basic auth, records every
accepted message, and can be told to fail: answer 500/429/503 next, refuse unsubscribed numbers
with 21610, or stall past the client's timeout. It runs an aiohttp server on its own event loop
in a background thread so it serves sync tests, async tests, the app and the benchmark alike.
Run it standalone (``python tests/fakes/twilio_api.py --port N``) for the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"


@dataclass
class SentMessage:
    """One message the fake accepted (the form fields twilio-python posted)."""

    sid: str
    to: str
    body: str
    from_: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    smart_encoded: str | None


@dataclass
class Faults:
    statuses: list[int] = field(default_factory=list)  # next N creates: these statuses (2xx = ok)
    unsubscribed: set[str] = field(default_factory=set)  # numbers answered with 21610
    stall_seconds: list[float] = field(default_factory=list)  # next N creates sleep this long


class FakeTwilioAPI:
    """Use as ``with FakeTwilioAPI() as api:``; point ENGAGE_TWILIO_API_URL at ``api.url``."""

    def __init__(self, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
                 record: bool = True) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.record = record
        self.messages: list[SentMessage] = []
        self.requests = 0
        self.faults = Faults()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bodies_to(self, number: str) -> list[str]:
        with self._lock:
            return [m.body for m in self.messages if m.to == number]

    # -- the one endpoint -----------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == self.account_sid and password == self.auth_token

    async def _create_message(self, request: web.Request) -> web.Response:
        with self._lock:
            self.requests += 1
            stall = self.faults.stall_seconds.pop(0) if self.faults.stall_seconds else 0.0
            forced = self.faults.statuses.pop(0) if self.faults.statuses else None
        if request.match_info["sid"] != self.account_sid or not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        if stall:
            await asyncio.sleep(stall)
        form = await request.post()
        to = str(form.get("To", ""))
        if forced is not None and forced >= 400:  # a 2xx entry means "answer normally"
            return _error(forced, forced, "fake failure")
        if to in self.faults.unsubscribed:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        if not to or not (form.get("From") or form.get("MessagingServiceSid")):
            return _error(400, 21604, "A 'To' and a 'From' phone number are required")
        sid = f"SM{next(self._ids):032x}"
        message = SentMessage(
            sid=sid,
            to=to,
            body=str(form.get("Body", "")),
            from_=_opt(form.get("From")),
            messaging_service_sid=_opt(form.get("MessagingServiceSid")),
            status_callback=_opt(form.get("StatusCallback")),
            smart_encoded=_opt(form.get("SmartEncoded")),
        )
        if self.record:
            with self._lock:
                self.messages.append(message)
        payload = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "body": message.body,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return web.json_response(payload, status=201)

    # -- lifecycle ------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create_message)
        return app

    def start(self, port: int = 0) -> FakeTwilioAPI:
        self._thread = threading.Thread(target=self._serve, args=(port,), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Twilio API did not start")
        return self

    def _serve(self, port: int) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(self._app(), access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", port)
        loop.run_until_complete(site.start())
        self._runner = runner
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeTwilioAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _error(status: int, code: int, message: str) -> web.Response:
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description="fake Twilio REST API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    api = FakeTwilioAPI(record=False)
    app = api._app()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
