"""Table lifecycle: finished outbox rows and message rows past retention are deleted in
batches (pending rows, recent rows, the audit log and consent ledger stay); ``engage db stats``
shows table sizes and what is due."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

from engage.cli import app as cli_app
from engage.config import Settings, get_settings
from engage.storage.db import session_scope
from engage.storage.lifecycle import purge_old_rows, table_sizes
from engage.storage.tables import ConsentEntry, Message, Outbox, Participant


def _fill(engine: Engine, now: datetime, days: int) -> None:
    old, new = now - timedelta(days=days + 1), now - timedelta(days=days - 1)
    with session_scope(engine) as session:
        p = Participant(key="k", channel="sms")
        session.add(p)
        session.flush()
        session.add(ConsentEntry(participant_id=p.id, scope="all", status="granted",
                                 text_version="v1", source="keyword", at=old))
        for i in range(23):
            for at, tag in ((old, "old"), (new, "new")):
                session.add(Message(participant_id=p.id, channel="sms", direction="in",
                                    provider_id=f"{tag}{i}", created_at=at))
                session.add(Outbox(participant_id=p.id, channel="sms", dedupe_key=f"{tag}{i}",
                                   status="sent" if i % 3 else "failed", created_at=at,
                                   not_before=at))
        session.add(Outbox(participant_id=p.id, channel="sms", dedupe_key="stuck",
                           status="pending", created_at=old, not_before=old))


def test_purge_deletes_what_is_past_retention_in_batches(db_engine: Engine,
                                                         clock: Any) -> None:
    _fill(db_engine, clock(), days=90)
    deleted = purge_old_rows(db_engine, now=clock(), days=90, batch=5, pause=0)
    assert deleted == {"outbox": 23, "message": 23}
    with session_scope(db_engine) as session:
        keys = sorted(r.dedupe_key for r in session.exec(select(Outbox)))
        assert keys == sorted([f"new{i}" for i in range(23)] + ["stuck"])
        assert all(m.provider_id.startswith("new")  # type: ignore[union-attr]
                   for m in session.exec(select(Message)))
        assert len(session.exec(select(ConsentEntry)).all()) == 1
    assert purge_old_rows(db_engine, now=clock(), days=90) == {"outbox": 0, "message": 0}


def test_a_bounded_purge_goes_on_at_the_next_call(db_engine: Engine, clock: Any) -> None:
    _fill(db_engine, clock(), days=30)
    assert purge_old_rows(db_engine, now=clock(), days=30, batch=10, pause=0,
                          max_batches=1) == {"outbox": 10, "message": 10}
    assert purge_old_rows(db_engine, now=clock(), days=30, batch=10, pause=0) == {
        "outbox": 13, "message": 13}


def test_sizes_and_due_rows(db_engine: Engine, clock: Any) -> None:
    _fill(db_engine, clock(), days=90)
    sizes = {s.name: s for s in table_sizes(db_engine, now=clock(), days=90)}
    assert (sizes["outbox"].rows, sizes["outbox"].due) == (47, 23)
    assert (sizes["message"].rows, sizes["message"].due) == (46, 23)
    assert sizes["audit_log"].due == 0
    if db_engine.dialect.name == "postgresql":
        assert sizes["outbox"].bytes and sizes["outbox"].bytes > 0


def test_db_stats_command(db_engine: Engine, db_url: str, settings: Settings,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    from engage.clock import utcnow

    _fill(db_engine, utcnow(), days=90)
    monkeypatch.setenv("ENGAGE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli_app, ["db", "stats"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines() if line}
    assert lines["outbox"][1] == "47" and lines["outbox"][-1] == "23"
    assert lines["message"][-1] == "23"
    assert "rows past 90 days are removed" in result.output
