"""A fake Twilio REST API on 127.0.0.1, so the real twilio ``Client`` code runs in tests.

It answers ``POST /2010-04-01/Accounts/{sid}/Messages.json`` the way Twilio does (201 with a
Message resource, JSON errors with a Twilio error code), checks HTTP Basic auth, records every
accepted message, and can be told to fail: answer 500/429/503 next, refuse unsubscribed numbers
with 21610, stall past the client's timeout before or *after* accepting a message, throw a
share of random 429s and 500s, or be down (500 to everything) for a while. It also serves the
Message list resource (``GET .../Messages.json`` filtered by ``To``, ``From`` and ``DateSent``,
``DateSent<``, ``DateSent>``, newest first), which the dispatcher uses to resolve sends whose
outcome is in doubt. It runs an aiohttp server on its own event loop
in a background thread so it serves sync tests, async tests, the app and the benchmark alike.
Run it standalone (``python tests/fakes/twilio_api.py --port N``) for the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
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
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Faults:
    statuses: list[int] = field(default_factory=list)  # next N creates: these statuses (2xx = ok)
    unsubscribed: set[str] = field(default_factory=set)  # numbers answered with 21610
    stall_seconds: list[float] = field(default_factory=list)  # next N creates sleep this long
    # next N creates accept (and record) the message, then sleep this long before answering
    stall_after_accept: list[float] = field(default_factory=list)
    stall_after_accept_rate: float = 0.0  # share of creates that do so (random)
    stall_after_accept_for: float = 0.0  # ... for this many seconds
    error_rates: dict[int, float] = field(default_factory=dict)  # status -> share of creates
    down_until: float = 0.0  # time.monotonic() before which every create answers 500
    list_down: bool = False  # the list resource answers 500 too while down
    seed: int = 7
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def outage(self, seconds: float) -> None:
        """Answer 500 to every create for ``seconds`` from now."""
        self.down_until = time.monotonic() + seconds


class FakeTwilioAPI:
    """Use as ``with FakeTwilioAPI() as api:``; point ENGAGE_TWILIO_API_URL at ``api.url``."""

    def __init__(self, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
                 record: bool = True) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.record = record
        self.messages: list[SentMessage] = []
        self.requests = 0
        self.list_requests = 0
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

    def snapshot(self) -> list[SentMessage]:
        with self._lock:
            return list(self.messages)

    # -- the one endpoint -----------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == self.account_sid and password == self.auth_token

    def _draw_faults(self) -> tuple[float, int | None, float]:
        """(stall before, forced status, stall after accepting) for the next create."""
        faults = self.faults
        with self._lock:
            self.requests += 1
            stall = faults.stall_seconds.pop(0) if faults.stall_seconds else 0.0
            forced = faults.statuses.pop(0) if faults.statuses else None
            after = faults.stall_after_accept.pop(0) if faults.stall_after_accept else 0.0
            if time.monotonic() < faults.down_until:
                forced = 500
            draw = faults.rng.random()
            for status, share in faults.error_rates.items():
                if forced is None and draw < share:
                    forced = status
                draw -= share
            if not after and faults.stall_after_accept_rate and \
                    faults.rng.random() < faults.stall_after_accept_rate:
                after = faults.stall_after_accept_for
        return stall, forced, after

    async def _create_message(self, request: web.Request) -> web.Response:
        stall, forced, after = self._draw_faults()
        if request.match_info["sid"] != self.account_sid or not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        if stall:
            await asyncio.sleep(stall)
        form = await request.post()
        to = str(form.get("To", ""))
        if forced is not None and forced >= 400:  # a 2xx entry means "answer normally"
            return _error(forced, 20429 if forced == 429 else forced, "fake failure")
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
        with self._lock:
            self.messages.append(message)
            if not self.record and len(self.messages) > 10_000:  # the benchmark's fake
                del self.messages[:5_000]
        if after:
            await asyncio.sleep(after)  # accepted: the client times out, the message exists
        return web.json_response(self._resource(message, "queued"), status=201)

    def _resource(self, message: SentMessage, status: str) -> dict[str, Any]:
        stamp = format_datetime(message.created, usegmt=True)
        return {
            "sid": message.sid,
            "account_sid": self.account_sid,
            "to": message.to,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "body": message.body,
            "status": status,
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": stamp,
            "date_sent": stamp,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}.json",
        }

    async def _list_messages(self, request: web.Request) -> web.Response:
        """The Message list resource: filters To, From, DateSent(=, <, >), PageSize."""
        if request.match_info["sid"] != self.account_sid or not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        with self._lock:
            self.list_requests += 1
            down = self.faults.list_down and time.monotonic() < self.faults.down_until
            messages = list(self.messages)
        if down:
            return _error(500, 500, "fake failure")
        query = request.query
        try:
            wanted = _date_filters(query)
            size = min(int(query.get("PageSize", "50")), 1000)
        except ValueError as exc:
            return _error(400, 21606, f"bad filter: {exc}")
        found = [m for m in messages
                 if ("To" not in query or m.to == query["To"])
                 and ("From" not in query or m.from_ == query["From"])
                 and all(test(m.created) for test in wanted)]
        found.sort(key=lambda m: m.created, reverse=True)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        return web.json_response({
            "messages": [self._resource(m, "sent") for m in found[:size]],
            "end": min(size, len(found)) - 1, "first_page_uri": uri, "next_page_uri": None,
            "page": 0, "page_size": size, "previous_page_uri": None, "start": 0, "uri": uri})

    # -- lifecycle ------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create_message)
        app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self._list_messages)
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


def _date_filters(query: Any) -> list[Any]:
    """Twilio's DateSent filters: a day (YYYY-MM-DD) or an instant (YYYY-MM-DDTHH:MM:SSZ);
    ``DateSent>`` is on or after, ``DateSent<`` on or before, ``DateSent`` the same day."""
    tests: list[Any] = []
    for name, value in query.items():
        if not name.startswith("DateSent"):
            continue
        day = len(value) == 10
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if name == "DateSent>":
            tests.append(lambda c, m=moment, d=day: (c.date() >= m.date()) if d else c >= m)
        elif name == "DateSent<":
            tests.append(lambda c, m=moment, d=day: (c.date() <= m.date()) if d else c <= m)
        elif name == "DateSent":
            tests.append(lambda c, m=moment: c.date() == m.date())
        else:
            raise ValueError(name)
    return tests


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
