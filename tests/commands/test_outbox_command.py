"""``engage outbox``: masked numbers, and --follow prints late-finishing rows exactly once."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from engage.cli import app as cli_app
from engage.config import Settings, get_settings
from engage.privacy import encrypt_address
from engage.storage.db import session_scope
from engage.storage.models import Outbox, Participant


def _rows(engine: Engine, settings: Settings) -> list[int]:
    with session_scope(engine) as session:
        p = Participant(key="k1", channel="sms",
                        address_enc=encrypt_address(settings.secret_bytes(), "+14105550123"))
        session.add(p)
        session.flush()
        rows = [Outbox(participant_id=p.id, channel="sms", body=f"body {i}", dedupe_key=f"d{i}",
                       status=status)
                for i, status in enumerate(["sent", "pending", "sent"])]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows if r.id is not None]


def test_follow_prints_a_late_row_once(db_engine: Engine, db_url: str, settings: Settings,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    first, late, third = _rows(db_engine, settings)
    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    calls = {"n": 0}

    def fake_sleep(_: float) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            with session_scope(db_engine) as session:
                row = session.get(Outbox, late)
                assert row is not None
                row.status = "sent"
                session.add(row)
        if calls["n"] > 4:
            raise KeyboardInterrupt

    monkeypatch.setattr("engage.commands.outbox.time.sleep", fake_sleep)
    result = CliRunner().invoke(cli_app, ["outbox", "--follow", "--interval", "0"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count("body 0") == 1 and out.count("body 2") == 1
    assert out.count("body 1") == 1  # printed when it finished, not before, not twice
    assert out.index("body 2") < out.index("body 1")
    assert "+141******23" in out and "+14105550123" not in out
    assert (first, third) == (late - 1, late + 1)


@pytest.mark.parametrize(("token", "says"), [
    (None, "nothing leaves this machine"),
    ("123456:TOKEN", "Telegram messages are really sent"),
])
def test_header_says_what_really_leaves(db_engine: Engine, db_url: str, settings: Settings,
                                        monkeypatch: pytest.MonkeyPatch, token: str | None,
                                        says: str) -> None:
    _rows(db_engine, settings)
    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_url)
    if token:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["outbox"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert says in " ".join(result.output.split())  # rich wraps at the terminal width
