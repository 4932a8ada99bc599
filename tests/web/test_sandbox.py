"""Trying engage without Twilio: a real uvicorn server on 127.0.0.1 with the in-process
dispatcher sending to the development outbox, ``engage chat``'s session signing with the
development token, and ``engage outbox`` printing masked numbers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from engage.cli import app as cli_app
from engage.commands.chat import ChatSession
from engage.config import DEV_TWILIO_AUTH_TOKEN, Settings
from engage.storage.db import make_engine
from engage.web.app import create_app

NUMBER = "+14105550199"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def dev_server(settings: Settings, tmp_path: Any) -> Iterator[tuple[str, Settings, Engine]]:
    """``engage serve`` as an operator runs it with no TWILIO_* set (SQLite only: one process)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    dev = settings.model_copy(update={"public_url": url,
                                      "database_url": f"sqlite:///{tmp_path / 'dev.sqlite3'}"})
    from engage.storage.db import create_schema

    engine = make_engine(dev.effective_database_url)
    create_schema(engine)
    app = create_app(dev, engine=engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started
    yield url, dev, engine
    server.should_exit = True
    thread.join(10)
    engine.dispose()


def test_chat_session_plays_a_resident(dev_server: tuple[str, Settings, Engine]) -> None:
    url, settings, _ = dev_server
    assert settings.twilio_webhook_token == DEV_TWILIO_AUTH_TOKEN
    with httpx.Client(timeout=10) as client:
        session = ChatSession(client=client, base_url=url, public_url=settings.public_url,
                              token=DEV_TWILIO_AUTH_TOKEN, number=NUMBER)
        assert session.fetch() == []
        assert session.send("Hello") == 200
        [consent] = session.wait_for_replies(quiet=0.5)
        assert "Reply YES" in consent
        assert session.send("YES") == 200
        assert session.wait_for_replies(quiet=0.5) == [
            "Which language do you prefer? 1 English 2 Español"]
        # a request signed with another token is refused, as Twilio's would be
        forged = ChatSession(client=client, base_url=url, public_url=settings.public_url,
                             token="guess", number=NUMBER)
        assert forged.send("STOP") == 403
        # another resident's replies are not visible under this number
        other = ChatSession(client=client, base_url=url, public_url=settings.public_url,
                            token=DEV_TWILIO_AUTH_TOKEN, number="+14105550100")
        assert other.fetch() == []


def test_outbox_command_masks_numbers(dev_server: tuple[str, Settings, Engine],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    url, settings, _ = dev_server
    with httpx.Client(timeout=10) as client:
        session = ChatSession(client=client, base_url=url, public_url=settings.public_url,
                              token=DEV_TWILIO_AUTH_TOKEN, number=NUMBER)
        session.send("HELP")
        assert session.wait_for_replies(quiet=0.3)
    monkeypatch.setenv("ENGAGE_DATABASE_URL", settings.effective_database_url)
    from engage.config import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(cli_app, ["outbox"])
    assert result.exit_code == 0, result.output
    assert "+141******99" in result.output
    assert NUMBER not in result.output
    assert "Reply STOP to opt out" in result.output.replace("\n", " ")


def test_chat_command_explains_an_unreachable_server(settings: Settings) -> None:
    port = _free_port()
    result = CliRunner().invoke(cli_app, ["chat", "--url", f"http://127.0.0.1:{port}",
                                          "-m", "hi"])
    assert result.exit_code == 1
    assert "cannot reach engage" in result.output
    assert "Traceback" not in result.output


def test_chat_shows_erasure_and_explains_opted_out_silence(
        dev_server: tuple[str, Settings, Engine]) -> None:
    url, settings, _ = dev_server
    with httpx.Client(timeout=10) as client:
        session = ChatSession(client=client, base_url=url, public_url=settings.public_url,
                              token=DEV_TWILIO_AUTH_TOKEN, number=NUMBER)
        session.send("Hello")
        session.wait_for_replies(quiet=0.3)
        assert session.send("STOP") == 200
        assert "unsubscribed" in session.wait_for_replies(wait=session.reply_wait(),
                                                          quiet=0.3)[0]
        started = time.monotonic()
        session.send("hello?")
        assert session.wait_for_replies(wait=session.reply_wait(), quiet=0.3) == []
        assert time.monotonic() - started < 5  # no 8 s hang
        assert "opted out" in session.silence() and "START" in session.silence()
        session.send("START")
        session.wait_for_replies(quiet=0.5)
        assert session.send("BORRAR") == 200  # the confirmation goes to the erased number
        [erased] = session.wait_for_replies(quiet=0.5)
        assert "borramos sus respuestas" in erased
