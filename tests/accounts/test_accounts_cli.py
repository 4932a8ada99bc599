"""``engage users ...`` and ``engage tokens ...`` as an operator types them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from engage.accounts import service
from engage.cli import app
from engage.clock import utcnow
from engage.config import Settings, get_settings
from engage.storage.db import session_scope


@pytest.fixture
def cli(db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_url)
    monkeypatch.setenv("ENGAGE_PUBLIC_URL", "https://engage.city.example")
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args))

    return invoke


def test_add_prints_a_one_time_setup_link(cli: Any, db_engine: Engine) -> None:
    result = cli("users", "add", "Ana@City.Example", "--role", "mediator", "--area", "hampden",
                 "--area", "Northern")
    assert result.exit_code == 0, result.output
    link = result.stdout.strip().splitlines()[-1]
    parsed = urlparse(link)
    assert f"{parsed.scheme}://{parsed.netloc}{parsed.path}" == (
        "https://engage.city.example/console/setup")
    raw = parse_qs(parsed.query)["token"][0]
    with session_scope(db_engine) as s:
        user = service.redeem_setup_link(session=s, raw=raw, password="violet kettle harbour 42",
                                         now=utcnow())
        assert user.email == "ana@city.example" and user.areas == ["Hampden", "Northern"]
    listed = json.loads(cli("users", "list", "--json").stdout)
    assert [(u["email"], u["role"], u["status"]) for u in listed] == [
        ("ana@city.example", "mediator", "active")]


@pytest.mark.parametrize(("args", "message"), [
    (("users", "add", "a@city.example", "--role", "owner"), "use admin, staff or mediator"),
    (("users", "add", "a@city.example", "--role", "staff", "--area", "Atlantis"),
     "unknown area 'Atlantis'; known areas: "),
    (("users", "add", "nope", "--role", "staff"), "not an email address"),
    (("users", "disable", "ghost@city.example"), "no account with that email"),
    (("tokens", "create", "ghost@city.example"), "no account with that email"),
    (("tokens", "revoke", "12345"), "no such token"),
])
def test_errors_are_one_clear_line(cli: Any, args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_duplicate_add_and_disable_and_reset(cli: Any) -> None:
    assert cli("users", "add", "b@city.example", "--role", "staff").exit_code == 0
    again = cli("users", "add", "B@city.example", "--role", "admin")
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert cli("users", "disable", "b@city.example").exit_code == 0
    assert json.loads(cli("users", "list", "--json").stdout)[0]["status"] == "disabled"
    assert cli("users", "enable", "b@city.example").exit_code == 0
    reset = cli("users", "reset", "b@city.example")
    assert reset.exit_code == 0 and "/console/setup?token=" in reset.stdout.splitlines()[-1]
    assert "b@city.example" in cli("users", "list").stdout


def test_tokens_create_list_revoke(cli: Any, db_engine: Engine) -> None:
    assert cli("users", "add", "c@city.example", "--role", "staff").exit_code == 0
    created = cli("tokens", "create", "c@city.example", "--name", "open data portal",
                  "--expires", "30d")
    assert created.exit_code == 0, created.output
    raw = created.stdout.strip().splitlines()[-1].split()[-1]
    assert raw.startswith("eng_")
    with session_scope(db_engine) as s:
        user, _ = service.verify_token(session=s, raw=raw, now=utcnow())
        assert user.email == "c@city.example"
    listed = json.loads(cli("tokens", "list", "c@city.example", "--json").stdout)
    assert [(t["name"], t["prefix"], t["revoked_at"]) for t in listed] == [
        ("open data portal", raw[:12], None)]
    table = cli("tokens", "list").stdout
    assert raw[:12] in table and raw not in table
    bad = cli("tokens", "create", "c@city.example", "--expires", "soon")
    assert bad.exit_code == 1 and "not a duration" in bad.stderr
    assert cli("tokens", "revoke", raw[:12]).stdout.strip() == f"revoked token {listed[0]['id']}"
    with session_scope(db_engine) as s, pytest.raises(service.TokenInvalid):
        service.verify_token(session=s, raw=raw, now=utcnow())
