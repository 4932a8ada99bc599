"""What answers beyond this machine: /metrics (token or loopback), /dev/* (loopback only), and
development mode refusing to listen on a network."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import typer
from sqlalchemy.engine import Engine

from engage.commands.serve import check_bind
from engage.config import Settings
from engage.web.app import create_app
from engage.web.loopback import is_loopback_bind

OUTSIDE = ("203.0.113.7", 40000)
LOCAL = ("127.0.0.1", 40000)

Client = Callable[..., Any]


@asynccontextmanager
async def _client(settings: Settings, engine: Engine,
                  peer: tuple[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, engine=engine, start_background=False)
    transport = httpx.ASGITransport(app=app, client=peer)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    app.state.runtime.close()


async def test_metrics_without_a_token_answer_loopback_only(
        settings: Settings, db_engine: Engine) -> None:
    async with _client(settings, db_engine, LOCAL) as local:
        assert (await local.get("/metrics")).status_code == 200
        proxied = await local.get("/metrics", headers={"X-Forwarded-For": "198.51.100.2"})
        assert proxied.status_code == 403  # a proxy on this host forwarded it from outside
    async with _client(settings, db_engine, OUTSIDE) as outside:
        refused = await outside.get("/metrics")
        assert refused.status_code == 403 and "ENGAGE_METRICS_TOKEN" in refused.text


async def test_metrics_with_a_token_need_it_from_everywhere(
        settings: Settings, db_engine: Engine) -> None:
    token = "metrics-" + "Zq8vT2pL0xW4nR7s" * 3
    configured = settings.model_copy(update={"metrics_token": token})
    for peer in (LOCAL, OUTSIDE):
        async with _client(configured, db_engine, peer) as client:
            assert (await client.get("/metrics")).status_code == 401
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            ok = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200


async def test_dev_outbox_is_never_served_off_loopback(
        settings: Settings, db_engine: Engine) -> None:
    async with _client(settings, db_engine, LOCAL) as local:
        assert (await local.get("/dev/outbox", params={"to": "+14105550123"})).status_code == 200
        forwarded = await local.get("/dev/outbox", params={"to": "+14105550123"},
                                    headers={"Forwarded": "for=198.51.100.2"})
        assert forwarded.status_code == 404
    async with _client(settings, db_engine, OUTSIDE) as outside:
        assert (await outside.get("/dev/outbox",
                                  params={"to": "+14105550123"})).status_code == 404


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.0.2.10", False), ("10.0.0.5", False)])
def test_which_binds_stay_on_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback_bind(host) is loopback


def test_development_refuses_a_network_bind_without_the_flag(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    development = settings.model_copy(update={"env": "development"})
    with pytest.raises(typer.Exit):
        check_bind(development, "0.0.0.0", dev_on_network=False)
    assert "refusing to serve ENGAGE_ENV=development on 0.0.0.0" in capsys.readouterr().err
    check_bind(development, "127.0.0.1", dev_on_network=False)  # loopback: nothing to say
    assert capsys.readouterr().err == ""


def test_the_flag_allows_it_with_a_loud_warning(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    check_bind(settings, "0.0.0.0", dev_on_network=True)
    err = capsys.readouterr().err
    assert "WARNING" in err and "forge" in err and "!" * 40 in err


def test_production_binds_anywhere(settings: Settings,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    check_bind(settings.model_copy(update={"env": "production"}), "0.0.0.0",
               dev_on_network=False)  # raises when refused
    assert "WARNING" not in capsys.readouterr().err
