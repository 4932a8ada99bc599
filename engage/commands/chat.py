"""``engage chat``: play a resident against a running ``engage serve``, in the terminal.

Each line is posted to ``/webhooks/twilio/sms`` signed exactly as Twilio signs it (the URL is
``ENGAGE_PUBLIC_URL`` + path, the token ``TWILIO_AUTH_TOKEN`` or, without Twilio, the
development token the server also uses). Replies travel the real path (outbox, dispatcher) and
are read back from the server's development outbox (``GET /dev/outbox``), which exists only
when Twilio is not configured.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import typer

from engage.commands.common import console, fail
from engage.config import ConfigError, get_settings

REPLY_WAIT_SECONDS = 8.0  # give up waiting for a reply after this long
QUIET_SECONDS = 1.2  # after a reply, wait this long for more before prompting again
OPTED_OUT_WAIT_SECONDS = 2.5  # an opted-out number gets at most a keyword's confirmation


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)


class ChatSession:
    """One resident's phone: signs, posts, and collects replies from the dev outbox."""

    def __init__(self, *, client: Any, base_url: str, public_url: str, token: str,
                 number: str, our_number: str = "+15550000000") -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.token = token
        self.number = number
        self.our_number = our_number
        self.cursor = 0
        self.last_sid: str | None = None

    def send(self, text: str) -> int:
        from engage.channels.sms import SIGNATURE_HEADER, SMS_WEBHOOK_PATH, sign

        self.last_sid = "SM" + uuid.uuid4().hex
        form = {"MessageSid": self.last_sid, "AccountSid": "AC" + "0" * 32,
                "From": self.number, "To": self.our_number, "Body": text, "NumMedia": "0"}
        signature = sign(self.token, self.public_url + SMS_WEBHOOK_PATH, form)
        response = self.client.post(self.base_url + SMS_WEBHOOK_PATH, data=form,
                                    headers={SIGNATURE_HEADER: signature})
        return int(response.status_code)

    def fetch(self) -> list[str] | None:
        """New replies since the last fetch; None when the server has no development outbox."""
        params: dict[str, Any] = {"to": self.number, "after": self.cursor}
        if self.last_sid:  # DELETE's confirmation goes to the number it just erased
            params["reply_to"] = self.last_sid
        response = self.client.get(self.base_url + "/dev/outbox", params=params)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        items = response.json()
        if items:
            self.cursor = max(int(i["id"]) for i in items)
        return [str(i["text"]) for i in items]

    def status(self) -> str:
        """unknown, subscribed or opted_out, as the server sees this number."""
        response = self.client.get(self.base_url + "/dev/resident", params={"to": self.number})
        if response.status_code != 200:
            return "unknown"
        return str(response.json().get("status", "unknown"))

    def reply_wait(self) -> float:
        """Opted out, a number gets nothing (or one keyword confirmation): no long wait."""
        return OPTED_OUT_WAIT_SECONDS if self.status() == "opted_out" else REPLY_WAIT_SECONDS

    def silence(self) -> str:
        """Why no reply came, in the resident's terms."""
        if self.status() == "opted_out":
            return ("(no reply: this number is opted out, so engage sends it nothing. "
                    "Text START to resubscribe.)")
        return f"(no reply within {REPLY_WAIT_SECONDS:.0f} s: is the dispatcher running?)"

    def skip_history(self) -> None:
        while self.fetch():
            pass

    def wait_for_replies(self, *, wait: float = REPLY_WAIT_SECONDS,
                         quiet: float = QUIET_SECONDS) -> list[str]:
        replies: list[str] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            new = self.fetch() or []
            if new:
                replies.extend(new)
                deadline = min(deadline, time.monotonic() + quiet)
            time.sleep(0.15)
        return replies


def chat(
    from_: str = typer.Option("+15550001111", "--from", help="The resident's phone number."),
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help="Where engage serve runs."),
    message: list[str] = typer.Option(
        [], "--message", "-m", help="Send these lines and exit (repeatable; no prompt)."),
) -> None:
    """Text the bot as a resident would, from the terminal (Ctrl-D or /quit to leave)."""
    import httpx

    try:
        settings = get_settings()
    except ConfigError as exc:
        fail(str(exc))
    token = settings.twilio_webhook_token
    if not token:
        fail("no webhook signing token: set TWILIO_AUTH_TOKEN (production has no dev token)")
    with httpx.Client(timeout=10.0) as client:
        session = ChatSession(client=client, base_url=url, public_url=settings.public_url,
                              token=token, number=from_)
        try:
            if session.fetch() is None:
                fail(f"{url} has no development outbox (Twilio is configured there): "
                     "replies go to the real phone")
            session.skip_history()
        except httpx.HTTPError:
            fail(f"cannot reach engage at {url}: is `engage serve` running?")
        if not message:
            console.print(f"You are {from_}. Type a message; /quit to leave.",
                          style="dim", highlight=False, markup=False)
        lines = iter(message) if message else None
        while True:
            if lines is not None:
                text = next(lines, None)
                if text is None:
                    return
                console.print(f"you> {text}", highlight=False, markup=False)
            else:
                try:
                    text = console.input("you> ")
                except (EOFError, KeyboardInterrupt):
                    return
            if text.strip() == "/quit":
                return
            try:
                status = session.send(text)
            except httpx.HTTPError:
                fail(f"cannot reach engage at {url}: is `engage serve` running?")
            if status == 403:
                fail("the server refused the signature: ENGAGE_PUBLIC_URL or TWILIO_AUTH_TOKEN "
                     "differ between this shell and the server")
            if status >= 400:
                console.print(f"(server answered {status}; Twilio would retry)", style="yellow",
                              highlight=False, markup=False)
                continue
            replies = session.wait_for_replies(wait=session.reply_wait())
            for reply in replies:
                console.print(f"bot> {reply}", style="cyan", highlight=False, markup=False)
            if not replies:
                console.print(session.silence(), style="yellow", highlight=False, markup=False)
