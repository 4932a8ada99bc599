"""``engage outbox``: masked numbers, and --follow prints late-finishing rows exactly once."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

from engage.cli import app as cli_app
from engage.config import Settings, get_settings
from engage.privacy import encrypt_address
from engage.storage.db import session_scope
from engage.storage.tables import Outbox, Participant


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
def test_waiting_rows_are_listed_with_their_state_and_masked_numbers(
        db_engine: Engine, db_url: str, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from engage.clock import utcnow

    _rows(db_engine, settings)
    with session_scope(db_engine) as session:
        session.add(Outbox(participant_id=1, channel="sms", kind="campaign", body="held one",
                           dedupe_key="h", not_before=utcnow() + timedelta(hours=9)))
        session.add(Outbox(participant_id=1, channel="sms", body="retry one", dedupe_key="r",
                           attempts=2, error="twilio HTTP 500 code 500"))
        session.add(Outbox(participant_id=1, channel="sms", body="doubt one", dedupe_key="u",
                           attempts=1, attempted_at=utcnow()))
    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli_app, ["outbox"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "waiting: 4" in out
    assert "campaign held until" in out and "retrying (attempt 3" in out
    assert "in doubt" in out and "last error: twilio HTTP 500" in out
    assert "+14105550123" not in out and "+141******23" in out


def test_requeue_puts_failed_rows_back_but_not_stale_replies(
        db_engine: Engine, db_url: str, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from engage.clock import utcnow

    now = utcnow()
    with session_scope(db_engine) as session:
        p = Participant(key="k1", channel="sms",
                        address_enc=encrypt_address(settings.secret_bytes(), "+14105550123"))
        session.add(p)
        session.flush()
        rows = [Outbox(participant_id=p.id, channel="sms", kind=kind, body=kind,
                       dedupe_key=key, status=status, attempts=5, error="HTTP 500",
                       created_at=now - timedelta(minutes=age))
                for key, kind, status, age in (("a", "reply", "failed", 20),
                                               ("b", "reply", "failed", 120),
                                               ("c", "campaign", "failed", 120),
                                               ("d", "reply", "sent", 10),
                                               ("e", "campaign", "failed", 60 * 30))]
        session.add_all(rows)
        session.flush()
        ids = [r.id for r in rows]
    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli_app, ["outbox", "requeue", "--failed-since", "3h"])
    assert result.exit_code == 0, result.output
    assert "requeued 2 failed rows; 1 replies too old" in result.output
    with session_scope(db_engine) as session:
        got = {r.dedupe_key: r for r in session.exec(select(Outbox))}
        assert (got["a"].status, got["a"].attempts) == ("pending", 0)
        assert got["a"].error == "requeued after: HTTP 500"
        assert [got[k].status for k in "bcde"] == ["failed", "pending", "sent", "failed"]
    result = CliRunner().invoke(cli_app, ["outbox", "requeue", "--id", str(ids[4]),
                                          "--id", str(ids[3])])
    assert result.exit_code == 0, result.output
    assert f"requeued 1 failed rows; not failed or not found: {ids[3]}" in result.output
    bad = CliRunner().invoke(cli_app, ["outbox", "requeue", "--failed-since", "soon"])
    assert bad.exit_code == 1 and "--failed-since must be like 2h" in bad.output
